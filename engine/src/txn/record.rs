//! WAL records of the transaction layer.

/// Ends a transaction: its changes count. Payload: [`CommitRecord`].
pub const KIND_COMMIT: u8 = 32;
/// Ends a transaction: its changes are discarded. Empty payload.
pub const KIND_ABORT: u8 = 33;
/// An object id was handed out: payload is the allocator's next value (u64). Logged
/// whatever becomes of the transaction, so ids are never reused, even after a crash.
pub const KIND_ID_ALLOC: u8 = 34;

/// Payload of a commit record: one flags byte; bit 0 set means the transaction changed the
/// catalog (recovery counts those to restore the catalog epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitRecord {
    pub catalog_changed: bool,
}

impl CommitRecord {
    pub fn encode(&self) -> [u8; 1] {
        [u8::from(self.catalog_changed)]
    }

    /// Decodes a commit payload; `None` if malformed.
    pub fn decode(payload: &[u8]) -> Option<CommitRecord> {
        match payload {
            [flags] if flags & !1 == 0 => Some(CommitRecord {
                catalog_changed: flags & 1 == 1,
            }),
            _ => None,
        }
    }
}

/// Decodes an id-allocation payload; `None` if malformed.
pub fn decode_id_alloc(payload: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(payload.try_into().ok()?))
}
