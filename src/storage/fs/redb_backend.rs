//! The catalog's redb file on any [`Fs`], so the crash simulator sees the catalog's
//! writes and syncs too, and growth of the file is durable before redb relies on it.

use std::io;

use super::FsFile;

/// A redb storage backend over one open [`FsFile`].
#[derive(Debug)]
pub struct FsBackend(pub Box<dyn FsFile>);

impl redb::StorageBackend for FsBackend {
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }

    fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match self.0.read_at(&mut buf[done..], offset + done as u64)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => done += n,
            }
        }
        Ok(buf)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let grows = len > self.0.len()?;
        self.0.set_len(len)?;
        if grows {
            // redb writes headers that count on the new length before it syncs: made
            // durable now, a crash cannot leave a header describing a longer file
            // than the disk kept (which redb's open refuses with a panic).
            self.0.sync_data()?;
        }
        Ok(())
    }

    fn sync_data(&self, _eventual: bool) -> io::Result<()> {
        // A barrier is all `eventual` asks; a full sync gives it.
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.write_all_at(data, offset)
    }
}
