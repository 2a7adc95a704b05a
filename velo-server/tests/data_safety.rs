//! Runs that must not destroy a user's file, through the real binary.

use std::fs;
use std::process::Command;

/// Regression: a sink whose path was a symlink to the source's file truncated
/// the input while it was read (about 78,000 of 100,000 rows gone, exit 0).
#[cfg(unix)]
#[test]
fn a_sink_symlinked_to_its_source_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut input = String::from("id,name\n");
    for i in 0..100_000 {
        input.push_str(&format!("{i},n{i}\n"));
    }
    let input_path = dir.path().join("orders.csv");
    fs::write(&input_path, &input).unwrap();
    std::os::unix::fs::symlink(&input_path, dir.path().join("copy.csv")).unwrap();
    fs::write(
        dir.path().join("app.sql"),
        "CREATE STREAM copy AS SELECT id, name FROM orders\n\
         WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv',\n\
         'copy.type' = 'file_sink', 'copy.path' = 'copy.csv', 'copy.format' = 'csv');\n",
    )
    .unwrap();
    for command in ["check", "run"] {
        let out = Command::new(env!("CARGO_BIN_EXE_velo-server"))
            .args([command, "app.sql"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.starts_with(
                "error: sink 'copy' of job 'copy' would write 'copy.csv', which source 'orders' of job 'copy' reads"
            ) && stderr.contains(" --> app.sql:3:42"),
            "{command}: {stderr}"
        );
        assert!(
            fs::read_to_string(&input_path).unwrap() == input,
            "{command} changed the input"
        );
    }
}
