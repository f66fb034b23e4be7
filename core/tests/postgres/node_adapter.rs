//! TopGun's TS `PostgresAdapter` running in Node with the `pg` package
//! (`tests/postgres/node/ts_adapter.mjs`), driven one JSON command at a
//! time. Shared by the compatibility tests and the D6 benchmark.

#![allow(dead_code)] // the benchmark uses a part

use serde_json::{json, Value as Json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub struct NodeTsAdapter {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl NodeTsAdapter {
    /// Starts the adapter on `table` of the server at `url`.
    ///
    /// # Panics
    ///
    /// When Node or the script's `pg` package is missing (`make
    /// postgres-node-deps` installs it; `make rust-test` does so first).
    pub fn start(url: &str, table: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/postgres/node");
        assert!(
            dir.join("node_modules/pg").is_dir(),
            "{} has no node_modules/pg: run `make postgres-node-deps` (make rust-test does)",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg(dir.join("ts_adapter.mjs"))
            .arg(url)
            .arg(table)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node (Node.js 18 or later is needed): {e}"));
        let input = child.stdin.take().expect("piped stdin");
        let output = BufReader::new(child.stdout.take().expect("piped stdout"));
        Self {
            child,
            input,
            output,
        }
    }

    /// Sends one command and returns its answer.
    ///
    /// # Panics
    ///
    /// When the adapter answers with an error or not at all.
    pub fn call(&mut self, command: Json) -> Json {
        writeln!(self.input, "{command}").expect("write to node");
        self.input.flush().expect("flush to node");
        let mut line = String::new();
        self.output.read_line(&mut line).expect("read from node");
        assert!(!line.is_empty(), "node exited; command was {command}");
        let answer: Json = serde_json::from_str(&line).expect("node answers JSON");
        if let Some(e) = answer.get("error") {
            panic!("the TS adapter failed {command}: {e}");
        }
        answer
    }

    pub fn store(&mut self, map: &str, key: &str, record: Json) {
        self.call(json!({"op": "store", "map": map, "key": key, "record": record}));
    }

    pub fn load(&mut self, map: &str, key: &str) -> Json {
        self.call(json!({"op": "load", "map": map, "key": key}))["result"].take()
    }
}

impl Drop for NodeTsAdapter {
    fn drop(&mut self) {
        // Closing stdin ends the script, which closes its pool.
        let _ = self.input.flush();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
