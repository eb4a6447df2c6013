//! The sticky failure state (redb's `CheckedBackend` rule, PostgreSQL's "fsyncgate").
//!
//! After any failed write or sync nothing can be assumed about what reached the disk: a
//! retried fsync may report success for pages the kernel already dropped. So the first
//! such failure flips the database into a failed state in which every later call returns
//! [`StorageError::PreviousIo`], until the database is closed and reopened and recovery
//! decides, from what is actually on disk, what is durable.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::{StorageError, StorageResult};

#[derive(Debug, Default)]
pub struct Health {
    failed: AtomicBool,
}

impl Health {
    /// Ok while healthy; `PreviousIo` once any write or sync has failed.
    pub fn check(&self) -> StorageResult<()> {
        if self.failed.load(Ordering::Acquire) {
            Err(StorageError::PreviousIo)
        } else {
            Ok(())
        }
    }

    /// Records a failed write or sync and passes the error through.
    pub fn fail(&self, error: StorageError) -> StorageError {
        self.failed.store(true, Ordering::Release);
        error
    }

    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }
}
