//! `scrape_config_files`: the scrape configs of the files they name, read, validated against the main file's
//! `global` section and appended as Prometheus's `GetScrapeConfigs` does. Their relative paths are rebased so that
//! they stay relative to the main file's directory, like every other relative path of a loaded configuration.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::glob::{BadPattern, glob};
use crate::types::Config;
use crate::{Error, ScrapeConfig};

/// What a file named by `scrape_config_files` may hold.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScrapeConfigsFile {
    #[serde(default, deserialize_with = "crate::types::scrape_list")]
    scrape_configs: Vec<ScrapeConfig>,
}

/// Reads every file `cfg.scrape_config_files` names (relative patterns against `dir`, the main file's directory)
/// and appends their scrape configs to `cfg.scrape_configs`.
pub(super) fn append_scrape_config_files(cfg: &mut Config, dir: &Path) -> Result<(), Error> {
    let mut origin: HashMap<String, String> = cfg
        .scrape_configs
        .iter()
        .map(|s| (s.job_name.clone(), "main config file".into()))
        .collect();
    let utf8 = cfg.global.metric_name_validation_scheme.as_deref() != Some("legacy");
    let mut added = Vec::new();
    for pattern in &cfg.scrape_config_files {
        let full = join_dir(dir, Path::new(pattern));
        let files = glob(&full).map_err(|BadPattern| {
            Error::Invalid(format!(
                "error retrieving scrape config files for {}: syntax error in pattern",
                model::gostr::quote(&full.display().to_string())
            ))
        })?;
        for file in files {
            let shown = absolute(&file).display().to_string();
            let fail = |location: String, message: String| Error::ScrapeConfigFile {
                path: shown.clone(),
                location,
                message,
            };
            let text = std::fs::read_to_string(&file)
                .map_err(|e| fail(String::new(), format!("open {shown}: {e}")))?;
            let parsed: ScrapeConfigsFile = if text.trim().is_empty() {
                ScrapeConfigsFile { scrape_configs: Vec::new() }
            } else {
                super::parse_yaml(&text, &file.display().to_string())
                    .map_err(|(location, message)| fail(location, message))?
            };
            // Paths in the file are relative to its own directory; keep them relative to the main one.
            let own_dir = file.parent().unwrap_or(Path::new(""));
            let rebase_to = own_dir.strip_prefix(clean(dir)).unwrap_or(own_dir);
            // Decoding checks every config's discovery blocks and job name before any is validated.
            for sc in &parsed.scrape_configs {
                super::validate_sd(sc).map_err(|e| fail(String::new(), e.to_string()))?;
                if sc.job_name.is_empty() {
                    return Err(fail(String::new(), "job_name is empty".into()));
                }
            }
            for mut sc in parsed.scrape_configs {
                super::validate_scrape(&mut sc, &cfg.global, utf8)
                    .map_err(|e| fail(String::new(), e.to_string()))?;
                if let Some(first) = origin.get(&sc.job_name) {
                    return Err(fail(
                        String::new(),
                        format!(
                            "found multiple scrape configs with job name {:?}, first found in {first}",
                            sc.job_name
                        ),
                    ));
                }
                origin.insert(sc.job_name.clone(), model::gostr::quote(&shown));
                rebase(&mut sc, rebase_to);
                sc.included_from = Some(shown.clone());
                added.push(sc);
            }
        }
    }
    cfg.scrape_configs.extend(added);
    Ok(())
}

/// Joins the file paths of one scrape config with `dir` (Prometheus's `SetDirectory`).
fn rebase(sc: &mut ScrapeConfig, dir: &Path) {
    let join = |p: &mut String| {
        if !p.is_empty() {
            *p = join_dir(dir, Path::new(p.as_str())).display().to_string();
        }
    };
    let tls = &mut sc.tls_config;
    for p in [&mut tls.ca_file, &mut tls.cert_file, &mut tls.key_file].into_iter().flatten() {
        join(p);
    }
    if let Some(b) = &mut sc.basic_auth {
        b.username_file.iter_mut().chain(b.password_file.iter_mut()).for_each(join);
    }
    if let Some(a) = &mut sc.authorization {
        a.credentials_file.iter_mut().for_each(join);
    }
    sc.bearer_token_file.iter_mut().for_each(join);
    sc.scrape_failure_log_file.iter_mut().for_each(join);
    for f in &mut sc.file_sd_configs {
        f.files.iter_mut().for_each(join);
    }
}

/// `dir` joined with a relative `p` and cleaned lexically (Go's `config.JoinDir`); absolute paths stay as they are.
fn join_dir(dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { clean(&dir.join(p)) }
}

/// Removes `.` elements and folds `..` into the element before it, as Go's `filepath.Clean` does.
fn clean(p: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    out.iter().collect()
}

/// The path made absolute against the working directory, as Prometheus names included files in its errors.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).map(|a| clean(&a)).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_and_clean_as_in_go() {
        assert_eq!(join_dir(Path::new("scrape_configs"), Path::new("../a")), PathBuf::from("a"));
        assert_eq!(join_dir(Path::new(""), Path::new("./a/b")), PathBuf::from("a/b"));
        assert_eq!(join_dir(Path::new("d"), Path::new("/abs")), PathBuf::from("/abs"));
        assert_eq!(clean(Path::new("/../x")), PathBuf::from("/x"));
        assert_eq!(clean(Path::new("../x")), PathBuf::from("../x"));
    }
}
