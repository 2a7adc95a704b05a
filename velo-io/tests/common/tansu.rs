//! A throwaway Kafka-compatible broker for tests: `tansu` (one binary, in-memory
//! storage) on a free loopback port, killed when dropped.
//!
//! The binary is `$VELO_TANSU`, else `tansu` on `PATH`, else `~/.cargo/bin/tansu`
//! (`cargo install --locked tansu --features dynostore`). Without it the tests
//! fail, unless `VELO_SKIP_KAFKA_TESTS=1`, where [`Tansu::start`] returns `None`
//! and the test returns early.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker; `brokers` is its `bootstrap.servers`.
#[derive(Debug)]
pub struct Tansu {
    child: Child,
    pub brokers: String,
    log: PathBuf,
}

fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VELO_TANSU") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"));
    let in_cargo = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tansu"));
    on_path.chain(in_cargo).find(|p| p.is_file())
}

impl Tansu {
    /// Starts a broker and waits until it accepts connections; `None` when
    /// `VELO_SKIP_KAFKA_TESTS=1`. Panics when the binary is missing or the broker
    /// does not start.
    pub fn start() -> Option<Tansu> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Tansu::start_on(port)
    }

    /// [`Tansu::start`] on a given port (e.g. to restart a broker where its
    /// clients expect it; the in-memory storage starts empty).
    pub fn start_on(port: u16) -> Option<Tansu> {
        if std::env::var("VELO_SKIP_KAFKA_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("VELO_SKIP_KAFKA_TESTS=1: Kafka test skipped");
            return None;
        }
        let Some(bin) = binary() else {
            panic!(
                "the Kafka tests need the `tansu` broker: `cargo install --locked tansu --features dynostore` \
                 (or set VELO_TANSU to its path); set VELO_SKIP_KAFKA_TESTS=1 to skip them"
            );
        };
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!("velo-tansu-{port}.log"));
        let out = std::fs::File::create(&log).expect("the broker's log file");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file handle"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut broker = Tansu {
            child,
            brokers: format!("127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("tansu exited with {status}:\n{}", broker.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on port {port} within 30 s:\n{}",
                broker.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(broker)
    }

    /// The port the broker listens on.
    pub fn port(&self) -> u16 {
        self.brokers
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("brokers end with the port")
    }

    /// What the broker printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
