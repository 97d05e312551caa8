//! The `promethium` binary.

fn main() {}
