//! A second process for tests of what one process sees of another's store:
//! the test binary itself, started on one `#[ignore]`d child test that
//! answers one line per command on stdin. Killed with SIGKILL when dropped.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child as Process, ChildStdin, ChildStdout, Command, Stdio};

/// The line a child prints before each answer.
pub const REPLY: &str = "REPLY ";

/// A running child test.
pub struct Child {
    process: Process,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Child {
    /// Starts this test binary on the ignored test `test` (exactly), with
    /// `env` set.
    pub fn spawn(test: &str, env: &[(&str, &std::path::Path)]) -> Self {
        let mut command = Command::new(std::env::current_exe().expect("test binary"));
        command
            .args([
                test,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut process = command.spawn().expect("start the child process");
        let stdin = process.stdin.take();
        let stdout = BufReader::new(process.stdout.take().expect("child stdout"));
        Self {
            process,
            stdin,
            stdout,
        }
    }

    /// Sends `command` and returns the child's answer.
    pub fn ask(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().expect("child stdin is open");
        writeln!(stdin, "{command}").expect("write to the child");
        stdin.flush().expect("flush to the child");
        self.reply()
    }

    /// The next answer the child prints.
    pub fn reply(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .stdout
                .read_line(&mut line)
                .expect("read from the child");
            assert_ne!(n, 0, "the child exited");
            // The harness prints "test <name> ... " without a newline
            // before the first answer.
            if let Some((_, reply)) = line.trim_end().split_once(REPLY) {
                return reply.to_owned();
            }
        }
    }

    /// Closes the child's stdin and waits for it to exit successfully.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.process.wait().expect("wait for the child");
        assert!(status.success(), "the child failed: {status}");
    }

    /// Kills the child with SIGKILL (no destructor, no flush runs in it)
    /// and waits for it to be gone.
    pub fn kill(mut self) {
        self.process.kill().expect("SIGKILL the child");
        self.process.wait().expect("reap the child");
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The child side: answers each line of stdin with `answer(line)`, printed
/// after [`REPLY`], until stdin closes or `answer` returns `None`.
pub fn serve(mut answer: impl FnMut(&str) -> Option<String>) {
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("read stdin");
        match answer(&line) {
            Some(reply) => println!("{REPLY}{reply}"),
            None => return,
        }
    }
}
