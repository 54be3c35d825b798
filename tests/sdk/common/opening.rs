//! A server whose store opens only when the test says so: what a long recovery looks
//! like to clients (503 `ServiceUnavailableException` until it is open).

use std::net::SocketAddr;
use std::sync::{mpsc, Arc};

use shoal::broker::SystemClock;
use shoal::server::{open_broker, serve, BrokerSource, Listeners};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::test_config;

pub struct Opening {
    pub addr: SocketAddr,
    release: mpsc::Sender<()>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Opening {
    /// Listens at once, and opens the store on disk once `open_store` is called.
    pub async fn start() -> Opening {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(Some(&dir));
        let listeners = Listeners::bind(&config).await.unwrap();
        let addr = listeners.plain_addr().unwrap();
        let (release, opened) = mpsc::channel::<()>();
        let for_open = config.clone();
        let source = BrokerSource::Open(Box::new(move || {
            // A test that ends before releasing the store drops the sender: then its
            // temp dir is gone, and nothing is opened in its place.
            opened
                .recv()
                .map_err(|_| "the test ended before the store was released".to_string())?;
            open_broker(&for_open, Arc::new(SystemClock))
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            serve(listeners, source, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Opening {
            addr,
            release,
            stop,
            server,
            _dir: dir,
        }
    }

    pub fn open_store(&self) {
        self.release.send(()).unwrap();
    }

    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        self.server.await.unwrap().unwrap();
    }
}
