//! The buffer pool: every live page, its committed versions, and the writer's pending one.
//!
//! MVCC lives here, at page granularity. Each page has a list of committed versions in
//! commit order, each tagged with the LSN of its transaction's commit record, and at most
//! one pending version belonging to the single active write transaction. A reader with
//! snapshot `visible_below` sees, for each page, the newest version committed below it.
//! Writers copy a page on first touch (`Arc::make_mut`), so a reader holding a page is
//! never blocked and never sees a change under its feet.
//!
//! A version's bytes live in memory, in an image-store slot, or both. The pool keeps at
//! most `resident_max` bodies in memory; past that it evicts by a clock sweep, first
//! writing a body that has no slot yet into a free slot (a "spill"). Pending versions spill
//! too (steal): a slot not referenced by the committed manifest is invisible to recovery,
//! so no undo is ever needed. A checkpoint reuses a spilled slot as the page's new durable
//! home when the version is unchanged since.
//!
//! Slots are reference counted: by the committed manifest and by every version that holds
//! one. A slot returns to the free set only at zero, so no slot that the durable manifest
//! or a live snapshot can still read is ever overwritten.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{StorageError, StorageResult};

use super::format::{Page, PageId};
use super::store::{ImageStore, Slot, IMAGE_FILE};
use crate::Lsn;

/// Which versions a read sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Snapshot {
    /// Versions committed with an LSN below this.
    Committed(Lsn),
    /// The write transaction: its pending versions, else the newest committed.
    Writer,
}

/// Counters for telemetry and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub pages: u64,
    pub resident: u64,
    pub resident_max: u64,
    pub disk_reads: u64,
    pub spills: u64,
    pub evictions: u64,
    pub dirty: u64,
    /// Recovered pages brought up to date on first touch, and those still waiting.
    pub redone_pages: u64,
    pub redo_pending_pages: u64,
    pub slots_total: u64,
    pub slots_free: u64,
}

#[derive(Debug)]
struct Version {
    commit_lsn: Lsn,
    mem: Option<Arc<Page>>,
    slot: Option<Slot>,
    /// The page was freed by this version's transaction.
    freed: bool,
    /// A recovered page not yet brought up to date: its bytes are `base` plus the WAL
    /// records listed (then `mem` and `slot` are both empty).
    redo: Option<Box<PendingRedo>>,
}

impl Version {
    fn in_memory(page: Page) -> Version {
        Version {
            commit_lsn: 0,
            mem: Some(Arc::new(page)),
            slot: None,
            freed: false,
            redo: None,
        }
    }
}

/// Where a recovered page's bytes start from before its WAL records are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedoBase {
    /// The image in this slot (the page's image in the checkpoint).
    Slot(Slot),
    /// A new, empty heap page of `owner` (the page was created after the checkpoint).
    Fresh { owner: u64 },
}

/// Where a WAL record lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RedoRef {
    pub segment_no: u32,
    pub offset: u32,
}

/// `count` WAL records back to back, from `first` up to offset `end` of the same segment,
/// all changing one page. A transaction usually changes a page several times in a row (a
/// bulk load fills a page before moving on), so recovery keeps one run, 16 bytes, where it
/// would otherwise keep a reference per record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedoRun {
    pub first: RedoRef,
    pub end: u32,
    pub count: u32,
}

impl RedoRun {
    /// Where the run ends: the offset just past its last record.
    pub fn end(&self) -> RedoRef {
        RedoRef {
            segment_no: self.first.segment_no,
            offset: self.end,
        }
    }
}

#[derive(Debug)]
struct PendingRedo {
    base: RedoBase,
    records: Vec<RedoRun>,
}

/// Applies logged changes to a page on the pool's behalf (recovery implements it over
/// the WAL; the pool, below the log, only keeps the list of what to apply).
pub trait RedoSource: Send + Sync + std::fmt::Debug {
    /// Applies the records of `runs`, in order, to `page`.
    fn redo(&self, page: &mut Page, runs: &[RedoRun]) -> StorageResult<()>;
}

#[derive(Debug, Default)]
struct Entry {
    /// Committed versions, oldest first.
    versions: Vec<Version>,
    pending: Option<Version>,
    referenced: bool,
}

#[derive(Debug, Default)]
struct SlotTable {
    /// References per slot; slot 0 is the store header and never free.
    refs: Vec<u32>,
    free: BTreeSet<Slot>,
}

impl SlotTable {
    fn allocate(&mut self) -> Slot {
        let slot = match self.free.pop_first() {
            Some(slot) => slot,
            None => {
                self.refs.push(0);
                self.refs.len() as Slot - 1
            }
        };
        assert_eq!(self.refs[slot as usize], 0);
        self.refs[slot as usize] = 1;
        slot
    }

    fn retain(&mut self, slot: Slot) {
        let r = &mut self.refs[slot as usize];
        if *r == 0 {
            self.free.remove(&slot);
        }
        *r += 1;
    }

    fn release(&mut self, slot: Slot) {
        let r = &mut self.refs[slot as usize];
        assert!(*r > 0, "slot {slot} released more often than retained");
        *r -= 1;
        if *r == 0 {
            self.free.insert(slot);
        }
    }
}

/// Every live page's entry, indexed by page id. Page ids are dense (allocated in order,
/// never reused), so a vector gives one-miss lookups where a tree would take several on a
/// large pool; freed ids leave an empty slot of one pointer.
#[derive(Debug, Default)]
struct PageMap {
    slots: Vec<Option<Box<Entry>>>,
    len: usize,
}

impl PageMap {
    fn get(&self, id: &PageId) -> Option<&Entry> {
        self.slots.get(*id as usize)?.as_deref()
    }

    fn get_mut(&mut self, id: &PageId) -> Option<&mut Entry> {
        self.slots.get_mut(*id as usize)?.as_deref_mut()
    }

    fn contains_key(&self, id: &PageId) -> bool {
        self.get(id).is_some()
    }

    fn insert(&mut self, id: PageId, entry: Entry) {
        let index = id as usize;
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || None);
        }
        if self.slots[index].replace(Box::new(entry)).is_none() {
            self.len += 1;
        }
    }

    fn remove(&mut self, id: &PageId) -> Option<Entry> {
        let entry = self.slots.get_mut(*id as usize)?.take()?;
        self.len -= 1;
        Some(*entry)
    }

    fn len(&self) -> usize {
        self.len
    }

    /// One more than the largest id ever inserted.
    fn capacity_ids(&self) -> u64 {
        self.slots.len() as u64
    }

    fn iter(&self) -> impl Iterator<Item = (PageId, &Entry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(id, e)| e.as_deref().map(|e| (id as PageId, e)))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (PageId, &mut Entry)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(id, e)| e.as_deref_mut().map(|e| (id as PageId, e)))
    }
}

#[derive(Debug)]
struct Inner {
    pages: PageMap,
    slots: SlotTable,
    /// The page table of the last committed manifest.
    manifest: BTreeMap<PageId, Slot>,
    resident: usize,
    resident_max: usize,
    hand: PageId,
    uncommitted: BTreeSet<PageId>,
    multi_version: BTreeSet<PageId>,
    redo_source: Option<Arc<dyn RedoSource>>,
    stats: PoolStats,
}

/// See the module documentation.
#[derive(Debug)]
pub struct BufferPool {
    store: ImageStore,
    inner: Mutex<Inner>,
}

impl BufferPool {
    /// A pool over `store` whose durable state is the manifest page table `manifest`.
    pub fn open(
        store: ImageStore,
        manifest: BTreeMap<PageId, Slot>,
        resident_max: usize,
    ) -> StorageResult<BufferPool> {
        assert!(resident_max >= 8);
        let slot_count = store.slot_count()?;
        let mut slots = SlotTable {
            refs: vec![0; slot_count as usize],
            free: BTreeSet::new(),
        };
        slots.refs[0] = 1;
        let mut pages = PageMap::default();
        for (&page_id, &slot) in &manifest {
            if slot == 0 || slot >= slot_count {
                return Err(StorageError::corruption(
                    IMAGE_FILE,
                    slot * super::PAGE_SIZE_BYTES as u64,
                    format!("manifest places page {page_id} in slot {slot}, past the end of the image store"),
                ));
            }
            if slots.refs[slot as usize] != 0 {
                return Err(StorageError::corruption(
                    "MANIFEST",
                    0,
                    format!("slot {slot} is assigned to more than one page"),
                ));
            }
            slots.refs[slot as usize] = 2; // the manifest and the version below
            let version = Version {
                commit_lsn: 0,
                mem: None,
                slot: Some(slot),
                freed: false,
                redo: None,
            };
            pages.insert(
                page_id,
                Entry {
                    versions: vec![version],
                    ..Entry::default()
                },
            );
        }
        slots.free = (1..slot_count)
            .filter(|&s| slots.refs[s as usize] == 0)
            .collect();
        let inner = Inner {
            pages,
            slots,
            manifest,
            resident: 0,
            resident_max,
            hand: 0,
            uncommitted: BTreeSet::new(),
            multi_version: BTreeSet::new(),
            redo_source: None,
            stats: PoolStats::default(),
        };
        Ok(BufferPool {
            store,
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("buffer pool lock")
    }

    /// The page as `snapshot` sees it.
    pub fn read(&self, page_id: PageId, snapshot: Snapshot) -> StorageResult<Arc<Page>> {
        let mut inner = self.lock();
        let page = inner.body(&self.store, page_id, snapshot)?;
        inner.evict_to_limit(&self.store)?;
        Ok(page)
    }

    /// The page as `snapshot` sees it, or `None` if it does not exist (or is freed) for
    /// that snapshot: one lookup where `exists` then `read` would take two.
    pub fn read_if_exists(
        &self,
        page_id: PageId,
        snapshot: Snapshot,
    ) -> StorageResult<Option<Arc<Page>>> {
        let mut inner = self.lock();
        let exists = inner
            .pages
            .get(&page_id)
            .and_then(|e| e.version(snapshot))
            .is_some_and(|v| !v.freed);
        if !exists {
            return Ok(None);
        }
        let page = inner.body(&self.store, page_id, snapshot)?;
        inner.evict_to_limit(&self.store)?;
        Ok(Some(page))
    }

    /// Whether the page exists (and is not freed) for `snapshot`.
    pub fn exists(&self, page_id: PageId, snapshot: Snapshot) -> bool {
        let inner = self.lock();
        inner
            .pages
            .get(&page_id)
            .and_then(|e| e.version(snapshot))
            .is_some_and(|v| !v.freed)
    }

    /// Applies `change` to the writer's pending version of the page, copying the newest
    /// committed version first if the transaction has not touched the page yet.
    pub fn write<R>(
        &self,
        page_id: PageId,
        change: impl FnOnce(&mut Page) -> R,
    ) -> StorageResult<R> {
        let mut inner = self.lock();
        // The common case (a page this transaction already changed, still in memory)
        // needs one lookup; anything else goes through `ensure_pending`.
        let ready = inner.pages.get(&page_id).is_some_and(|e| {
            e.pending
                .as_ref()
                .is_some_and(|v| v.mem.is_some() && v.slot.is_none())
        });
        if !ready {
            inner.ensure_pending(&self.store, page_id)?;
        }
        let entry = inner.pages.get_mut(&page_id).expect("ensured above");
        entry.referenced = true;
        let pending = entry.pending.as_mut().expect("ensured above");
        let arc = pending.mem.as_mut().expect("ensured above");
        let result = change(Arc::make_mut(arc));
        inner.evict_to_limit(&self.store)?;
        Ok(result)
    }

    /// Adds a new page as a pending version. Page ids are never reused.
    pub fn create(&self, page: Page) -> StorageResult<()> {
        let mut inner = self.lock();
        let page_id = page.id();
        assert!(page_id != 0);
        assert!(
            !inner.pages.contains_key(&page_id),
            "page {page_id} already exists"
        );
        let entry = Entry {
            versions: Vec::new(),
            pending: Some(Version::in_memory(page)),
            referenced: true,
        };
        inner.pages.insert(page_id, entry);
        inner.uncommitted.insert(page_id);
        inner.resident += 1;
        inner.evict_to_limit(&self.store)
    }

    /// Marks the page freed by the writer. Older snapshots keep their versions.
    pub fn free(&self, page_id: PageId) {
        let mut inner = self.lock();
        let Inner {
            pages,
            slots,
            uncommitted,
            resident,
            ..
        } = &mut *inner;
        let entry = pages
            .get_mut(&page_id)
            .expect("freeing a page that does not exist");
        if let Some(old) = entry.pending.take() {
            drop_version(slots, resident, old);
        }
        if entry.versions.is_empty() {
            // Created and freed by the same transaction: nobody ever saw it.
            pages.remove(&page_id);
            uncommitted.remove(&page_id);
            return;
        }
        entry.pending = Some(Version {
            commit_lsn: 0,
            mem: None,
            slot: None,
            freed: true,
            redo: None,
        });
        uncommitted.insert(page_id);
    }

    /// Publishes every pending version as committed at `commit_lsn`.
    pub fn commit(&self, commit_lsn: Lsn) {
        let mut inner = self.lock();
        let Inner {
            pages,
            uncommitted,
            multi_version,
            ..
        } = &mut *inner;
        for page_id in std::mem::take(uncommitted) {
            let entry = pages.get_mut(&page_id).expect("uncommitted page exists");
            let mut version = entry
                .pending
                .take()
                .expect("uncommitted page has a pending version");
            assert!(entry
                .versions
                .last()
                .is_none_or(|v| v.commit_lsn < commit_lsn));
            version.commit_lsn = commit_lsn;
            entry.versions.push(version);
            if entry.versions.len() > 1 {
                multi_version.insert(page_id);
            }
        }
    }

    /// Discards every pending version.
    pub fn abort(&self) {
        let mut inner = self.lock();
        let Inner {
            pages,
            slots,
            uncommitted,
            resident,
            ..
        } = &mut *inner;
        for page_id in std::mem::take(uncommitted) {
            let entry = pages.get_mut(&page_id).expect("uncommitted page exists");
            if let Some(old) = entry.pending.take() {
                drop_version(slots, resident, old);
            }
            if entry.versions.is_empty() {
                pages.remove(&page_id);
            }
        }
    }

    /// Drops versions no snapshot can see any more: for each page, everything older than
    /// the newest version committed below `oldest_visible_below`.
    pub fn prune(&self, oldest_visible_below: Lsn) {
        let mut inner = self.lock();
        let Inner {
            pages,
            slots,
            multi_version,
            resident,
            ..
        } = &mut *inner;
        let candidates: Vec<PageId> = multi_version.iter().copied().collect();
        for page_id in candidates {
            let entry = pages.get_mut(&page_id).expect("multi-version page exists");
            let keep_from = entry
                .versions
                .iter()
                .rposition(|v| v.commit_lsn < oldest_visible_below)
                .unwrap_or(0);
            for old in entry.versions.drain(..keep_from) {
                drop_version(slots, resident, old);
            }
            let gone =
                entry.versions.len() == 1 && entry.versions[0].freed && entry.pending.is_none();
            if gone {
                let entry = pages.remove(&page_id).expect("present");
                for v in entry.versions {
                    drop_version(slots, resident, v);
                }
            }
            if pages.get(&page_id).is_none_or(|e| e.versions.len() <= 1) {
                multi_version.remove(&page_id);
            }
        }
    }

    /// Sets where recovered pages' WAL records are read from.
    pub fn set_redo_source(&self, source: Arc<dyn RedoSource>) {
        self.lock().redo_source = Some(source);
    }

    /// Recovery: the page's bytes are `base` plus `records` (applied on first touch).
    /// For a base in a slot, the page is the one the manifest holds; a fresh page must not
    /// exist yet. An error is corruption: the log disagrees with the checkpoint.
    pub fn attach_redo(
        &self,
        page_id: PageId,
        base: Option<u64>,
        records: Vec<RedoRun>,
    ) -> Result<(), String> {
        let mut inner = self.lock();
        match base {
            Some(owner) => {
                if inner.pages.contains_key(&page_id) {
                    return Err(format!(
                        "page {page_id} is created again after the checkpoint"
                    ));
                }
                let version = Version {
                    commit_lsn: 0,
                    mem: None,
                    slot: None,
                    freed: false,
                    redo: Some(Box::new(PendingRedo {
                        base: RedoBase::Fresh { owner },
                        records,
                    })),
                };
                inner.pages.insert(
                    page_id,
                    Entry {
                        versions: vec![version],
                        ..Entry::default()
                    },
                );
            }
            None => {
                let entry = inner.pages.get_mut(&page_id).ok_or_else(|| {
                    format!("the log changes page {page_id}, which does not exist")
                })?;
                let version = entry
                    .versions
                    .last_mut()
                    .expect("a recovered page has its checkpoint version");
                let slot = version
                    .slot
                    .take()
                    .expect("a checkpointed page is in its slot");
                assert!(version.mem.is_none() && version.redo.is_none());
                version.redo = Some(Box::new(PendingRedo {
                    base: RedoBase::Slot(slot),
                    records,
                }));
            }
        }
        Ok(())
    }

    /// Recovery: a page the checkpoint holds was freed after it.
    pub fn remove_recovered(&self, page_id: PageId) -> Result<(), String> {
        let mut inner = self.lock();
        let Inner {
            pages,
            slots,
            resident,
            ..
        } = &mut *inner;
        let entry = pages
            .remove(&page_id)
            .ok_or_else(|| format!("the log frees page {page_id}, which does not exist"))?;
        for version in entry.versions {
            drop_version(slots, resident, version);
        }
        Ok(())
    }

    /// Brings every recovered page up to date (before a checkpoint writes images). Every
    /// version with pending redo is brought up to date, not only the newest: a page freed
    /// since recovery keeps its recovered version for older snapshots.
    fn redo_all(&self, inner: &mut Inner) -> StorageResult<()> {
        let pending: Vec<PageId> = inner
            .pages
            .iter()
            .filter(|(_, e)| e.versions.iter().any(|v| v.redo.is_some()))
            .map(|(id, _)| id)
            .collect();
        for page_id in pending {
            let Inner {
                pages,
                slots,
                redo_source,
                resident,
                stats,
                ..
            } = &mut *inner;
            let entry = pages.get_mut(&page_id).expect("listed above");
            for version in &mut entry.versions {
                if let Some(redo) = version.redo.take() {
                    let source = redo_source.clone();
                    let page = apply_redo(&self.store, source, slots, page_id, redo, version)?;
                    version.mem = Some(page);
                    *resident += 1;
                    stats.redone_pages += 1;
                }
            }
            inner.evict_to_limit(&self.store)?;
        }
        // Nothing is pending any more: let the source go (and the segment files it holds
        // open, which the checkpoint is about to remove).
        inner.redo_source = None;
        Ok(())
    }

    /// Writes the newest committed version of every page that has no slot yet, syncs the
    /// store, and returns the page table a new manifest should record. Requires that no
    /// transaction is pending (the checkpoint fences writers).
    /// `sync_images` is false only for the `manifest_before_images` planted bug.
    pub fn checkpoint_images(&self, sync_images: bool) -> StorageResult<CheckpointImages> {
        let mut inner = self.lock();
        self.redo_all(&mut inner)?;
        assert!(
            inner.uncommitted.is_empty(),
            "checkpoint while a writer is active"
        );
        let Inner { pages, slots, .. } = &mut *inner;
        let mut table = BTreeMap::new();
        let mut written = 0u64;
        for (page_id, entry) in pages.iter_mut() {
            let version = entry
                .versions
                .last_mut()
                .expect("committed page has a version");
            if version.freed {
                continue;
            }
            let slot = match version.slot {
                Some(slot) => slot,
                None => {
                    let slot = slots.allocate();
                    let page = version
                        .mem
                        .as_ref()
                        .expect("a version without a slot is in memory");
                    self.store.write(slot, page)?;
                    version.slot = Some(slot);
                    written += 1;
                    slot
                }
            };
            table.insert(page_id, slot);
        }
        if sync_images {
            self.store.sync()?;
        }
        Ok(CheckpointImages {
            pages_written: written,
            table,
        })
    }

    /// Makes `table` the durable page table, after its manifest is durable. Slots only the
    /// old table referenced may now be reused.
    pub fn install_manifest(&self, table: BTreeMap<PageId, Slot>) {
        let mut inner = self.lock();
        for &slot in table.values() {
            inner.slots.retain(slot);
        }
        let old = std::mem::replace(&mut inner.manifest, table);
        for slot in old.into_values() {
            inner.slots.release(slot);
        }
    }

    /// Counters, with the gauges computed now.
    pub fn stats(&self) -> PoolStats {
        let inner = self.lock();
        let mut stats = inner.stats;
        stats.pages = inner.pages.len() as u64;
        stats.resident = inner.resident as u64;
        stats.resident_max = inner.resident_max as u64;
        stats.dirty = inner
            .pages
            .iter()
            .filter(|(id, e)| {
                let newest = e
                    .versions
                    .last()
                    .and_then(|v| if v.freed { None } else { v.slot });
                newest.is_none() || inner.manifest.get(id) != newest.as_ref()
            })
            .count() as u64;
        stats.redo_pending_pages = inner
            .pages
            .iter()
            .filter(|(_, e)| e.versions.iter().any(|v| v.redo.is_some()))
            .count() as u64;
        stats.slots_total = inner.slots.refs.len() as u64;
        stats.slots_free = inner.slots.free.len() as u64;
        stats
    }

    /// Pages that exist (and are not freed) for `snapshot`.
    pub fn live_pages(&self, snapshot: Snapshot) -> Vec<PageId> {
        let inner = self.lock();
        inner
            .pages
            .iter()
            .filter(|(_, e)| e.version(snapshot).is_some_and(|v| !v.freed))
            .map(|(id, _)| id)
            .collect()
    }

    /// The page table of the last committed manifest.
    pub fn manifest_table(&self) -> BTreeMap<PageId, Slot> {
        self.lock().manifest.clone()
    }

    /// Structural check of the pool: slot reference counts equal the references that
    /// exist, no slot is shared by two pages of the manifest, free slots are exactly the
    /// unreferenced ones, and every image the manifest points at reads back intact.
    pub fn check(&self) -> StorageResult<Vec<String>> {
        let inner = self.lock();
        let mut problems = Vec::new();
        let mut refs = vec![0u32; inner.slots.refs.len()];
        refs[0] = 1;
        let mut owner: BTreeMap<Slot, PageId> = BTreeMap::new();
        for (&page_id, &slot) in &inner.manifest {
            refs[slot as usize] += 1;
            if let Some(other) = owner.insert(slot, page_id) {
                problems.push(format!(
                    "slot {slot} holds both page {other} and page {page_id} in the manifest"
                ));
            }
        }
        for (_, entry) in inner.pages.iter() {
            for v in entry.versions.iter().chain(entry.pending.iter()) {
                if let Some(slot) = v.slot {
                    refs[slot as usize] += 1;
                }
                if let Some(RedoBase::Slot(slot)) = v.redo.as_ref().map(|r| r.base) {
                    refs[slot as usize] += 1;
                }
            }
        }
        for (slot, (&expected, &actual)) in refs.iter().zip(&inner.slots.refs).enumerate() {
            if expected != actual {
                problems.push(format!(
                    "slot {slot} has {actual} references recorded, {expected} exist"
                ));
            }
            let free = inner.slots.free.contains(&(slot as Slot));
            if free != (expected == 0) {
                problems.push(format!(
                    "slot {slot} free={free} with {expected} references"
                ));
            }
        }
        for (&page_id, &slot) in &inner.manifest {
            self.store.read(slot, page_id)?;
        }
        Ok(problems)
    }
}

/// What [`BufferPool::checkpoint_images`] did.
#[derive(Clone, Debug, Default)]
pub struct CheckpointImages {
    pub table: BTreeMap<PageId, Slot>,
    /// Images written by this checkpoint; the rest of the table reuses slots written
    /// earlier (by a previous checkpoint or by a spill).
    pub pages_written: u64,
}

/// A recovered page's bytes: its base with its WAL records applied.
fn materialize(
    store: &ImageStore,
    source: &dyn RedoSource,
    page_id: PageId,
    redo: &PendingRedo,
) -> StorageResult<Page> {
    let mut page = match redo.base {
        RedoBase::Slot(slot) => store.read(slot, page_id)?,
        RedoBase::Fresh { owner } => Page::new(page_id, super::PageKind::Heap, owner),
    };
    source.redo(&mut page, &redo.records)?;
    Ok(page)
}

fn drop_version(slots: &mut SlotTable, resident: &mut usize, version: Version) {
    if let Some(slot) = version.slot {
        slots.release(slot);
    }
    if let Some(RedoBase::Slot(slot)) = version.redo.map(|r| r.base) {
        slots.release(slot);
    }
    if version.mem.is_some() {
        *resident -= 1;
    }
}

impl Entry {
    fn version(&self, snapshot: Snapshot) -> Option<&Version> {
        match snapshot {
            Snapshot::Writer => self.pending.as_ref().or(self.versions.last()),
            Snapshot::Committed(below) => self.versions.iter().rev().find(|v| v.commit_lsn < below),
        }
    }

    fn version_mut(&mut self, snapshot: Snapshot) -> Option<&mut Version> {
        match snapshot {
            Snapshot::Writer => self.pending.as_mut().or(self.versions.last_mut()),
            Snapshot::Committed(below) => self
                .versions
                .iter_mut()
                .rev()
                .find(|v| v.commit_lsn < below),
        }
    }
}

/// Applies a version's pending redo: its base (checkpoint image or fresh page) with its
/// log records. On success the base slot is released (the committed manifest keeps its
/// own reference until the next one); on failure the redo stays pending on `version`.
fn apply_redo(
    store: &ImageStore,
    source: Option<Arc<dyn RedoSource>>,
    slots: &mut SlotTable,
    page_id: PageId,
    redo: Box<PendingRedo>,
    version: &mut Version,
) -> StorageResult<Arc<Page>> {
    let source = source.expect("recovery set the redo source");
    match materialize(store, &*source, page_id, &redo) {
        Ok(page) => {
            if let RedoBase::Slot(slot) = redo.base {
                slots.release(slot);
            }
            Ok(Arc::new(page))
        }
        Err(e) => {
            version.redo = Some(redo);
            Err(e)
        }
    }
}

impl Inner {
    /// The body of the version `snapshot` sees, loaded from its slot if needed.
    fn body(
        &mut self,
        store: &ImageStore,
        page_id: PageId,
        snapshot: Snapshot,
    ) -> StorageResult<Arc<Page>> {
        let missing = || {
            StorageError::corruption(
                "buffer pool",
                page_id,
                format!("page {page_id} does not exist for snapshot {snapshot:?}"),
            )
        };
        let entry = self.pages.get_mut(&page_id).ok_or_else(missing)?;
        entry.referenced = true;
        let version = entry.version_mut(snapshot).ok_or_else(missing)?;
        if version.freed {
            return Err(missing());
        }
        if let Some(page) = &version.mem {
            return Ok(page.clone());
        }
        let page = match version.redo.take() {
            Some(redo) => {
                let source = self.redo_source.clone();
                let page = apply_redo(store, source, &mut self.slots, page_id, redo, version)?;
                self.stats.redone_pages += 1;
                page
            }
            None => {
                let slot = version
                    .slot
                    .expect("a version is in memory, in a slot or pending redo");
                self.stats.disk_reads += 1;
                Arc::new(store.read(slot, page_id)?)
            }
        };
        version.mem = Some(page.clone());
        self.resident += 1;
        Ok(page)
    }

    /// Gives the page a pending version with its bytes in memory and no slot (the bytes
    /// are about to change, so any slot copy is stale).
    fn ensure_pending(&mut self, store: &ImageStore, page_id: PageId) -> StorageResult<()> {
        let has_pending = self
            .pages
            .get(&page_id)
            .ok_or_else(|| {
                StorageError::corruption(
                    "buffer pool",
                    page_id,
                    format!("write to missing page {page_id}"),
                )
            })?
            .pending
            .is_some();
        let page = self.body(store, page_id, Snapshot::Writer)?;
        let entry = self.pages.get_mut(&page_id).expect("checked above");
        if has_pending {
            let pending = entry.pending.as_mut().expect("checked above");
            if let Some(slot) = pending.slot.take() {
                self.slots.release(slot);
            }
            return Ok(());
        }
        entry.pending = Some(Version::in_memory((*page).clone()));
        self.resident += 1;
        self.uncommitted.insert(page_id);
        Ok(())
    }

    fn evict_to_limit(&mut self, store: &ImageStore) -> StorageResult<()> {
        while self.resident > self.resident_max {
            if !self.evict_one(store)? {
                break;
            }
        }
        Ok(())
    }

    /// One step of the clock sweep: finds an unreferenced page with a body in memory and
    /// drops the body, spilling it to a free slot first if it has none.
    fn evict_one(&mut self, store: &ImageStore) -> StorageResult<bool> {
        // The clock: from the hand around the table, twice. A page whose referenced bit
        // is set gets a second chance (the bit is cleared).
        let ids = self.pages.capacity_ids();
        if ids == 0 {
            return Ok(false);
        }
        for step in 1..=2 * ids {
            let page_id = (self.hand + step) % ids;
            let Some(entry) = self.pages.get_mut(&page_id) else {
                continue;
            };
            let resident = entry
                .versions
                .iter()
                .chain(entry.pending.iter())
                .any(|v| v.mem.is_some());
            if !resident {
                continue;
            }
            if entry.referenced {
                entry.referenced = false;
                continue;
            }
            self.hand = page_id;
            self.evict(store, page_id)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Drops one in-memory body of the page, spilling it to a free slot if it has none.
    fn evict(&mut self, store: &ImageStore, page_id: PageId) -> StorageResult<()> {
        let entry = self.pages.get_mut(&page_id).expect("victim exists");
        let version = entry
            .versions
            .iter_mut()
            .chain(entry.pending.iter_mut())
            .find(|v| v.mem.is_some())
            .expect("victim is resident");
        if version.slot.is_none() {
            let slot = self.slots.allocate();
            store.write(slot, version.mem.as_ref().expect("found with a body"))?;
            version.slot = Some(slot);
            self.stats.spills += 1;
        }
        if let Some(page) = version.mem.take() {
            store.recycle(page);
        }
        self.resident -= 1;
        self.stats.evictions += 1;
        Ok(())
    }
}
