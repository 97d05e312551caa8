//! The admin operations behind `/api/v1/admin/tsdb/*`: deleting series (tombstones in blocks, logged deletion
//! in the head), rewriting blocks without their deleted data, and snapshots of the data directory.

use std::fs;
use std::path::Path;

use model::Matcher;

use crate::block::{Block, BlockWriter, cut_chunks};
use crate::error::Error;

use super::Db;

impl Db {
    /// Deletes the samples in `[mint, maxt]` of the series matching `matchers`: tombstones in the blocks, and in
    /// the head a deletion that is logged to the WAL first.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), Error> {
        let _m = self.inner.maintenance.lock();
        for b in self.blocks() {
            if let Some(updated) = b.delete(mint, maxt, matchers)? {
                self.replace_block(&b, updated);
            }
        }
        self.inner.head.delete(mint, maxt, matchers)?;
        Ok(())
    }

    /// Rewrites every block that has tombstones without the deleted samples; returns how many were rewritten.
    pub fn clean_tombstones(&self) -> Result<usize, Error> {
        let _m = self.inner.maintenance.lock();
        let mut n = 0;
        for b in self.blocks() {
            if b.tombstones().is_empty() {
                continue;
            }
            let meta = b.meta().clone();
            let mut w = BlockWriter::new(&self.inner.dir, meta.min_time, meta.max_time)?;
            w.set_smallest_xor_chunks(true);
            let mut any = false;
            b.for_each_series(|labels, samples| {
                if samples.is_empty() {
                    return Ok(());
                }
                any = true;
                w.add_series(labels, &cut_chunks(&samples, self.inner.opts.block_range.max(1))?)
            })?;
            let new = if any {
                let ulid = w.finish()?;
                Some(Block::open(&self.inner.dir.join(ulid.to_string()))?)
            } else {
                None
            };
            match new {
                Some(new) => self.replace_block(&b, new),
                None => {
                    self.inner.blocks.write().retain(|x| x.meta().ulid != meta.ulid);
                }
            }
            self.delete_block_files(&b)?;
            n += 1;
        }
        Ok(n)
    }

    /// Writes a snapshot into `dir` (created): hard links of every block's files, plus, unless `skip_head`, the
    /// head's samples as one more block.
    pub fn snapshot(&self, dir: &Path, skip_head: bool) -> Result<(), Error> {
        let _m = self.inner.maintenance.lock();
        fs::create_dir_all(dir).map_err(Error::io("create snapshot directory", dir))?;
        for b in self.blocks() {
            link_tree(b.dir(), &dir.join(b.meta().ulid.to_string()))?;
        }
        if !skip_head {
            let head = &self.inner.head;
            let (mint, maxt) = (head.min_time(), head.max_time());
            if mint != i64::MAX && maxt != i64::MIN {
                self.write_head_range(dir, mint, maxt.saturating_add(1))?;
            }
        }
        Ok(())
    }

    fn replace_block(&self, old: &Block, new: Block) {
        let mut blocks = self.inner.blocks.write();
        blocks.retain(|x| x.meta().ulid != old.meta().ulid);
        blocks.push(new);
        blocks.sort_by_key(|b| b.meta().min_time);
    }
}

/// Hard-links every file under `from` into the same place under `to`.
fn link_tree(from: &Path, to: &Path) -> Result<(), Error> {
    fs::create_dir_all(to).map_err(Error::io("create snapshot directory", to))?;
    for entry in fs::read_dir(from).map_err(Error::io("list block directory", from))? {
        let entry = entry.map_err(Error::io("list block directory", from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(Error::io("stat block file", &src))?.is_dir() {
            link_tree(&src, &dst)?;
        } else {
            fs::hard_link(&src, &dst).map_err(Error::io("link block file into snapshot", &dst))?;
        }
    }
    Ok(())
}
