//! Hash-consing of path attribute sets: one `Arc` per distinct set, so a
//! full table of routes that share a few attribute sets stores each set once
//! and compares them by pointer.

use std::collections::HashSet;
use std::sync::Arc;

use bgp_proto::PathAttributes;

/// The table of interned attribute sets.
///
/// Entries are removed when their last user hands its `Arc` back through
/// [`Interner::release`]; nothing is collected behind the owner's back.
#[derive(Debug, Default)]
pub struct Interner {
    /// foldhash: attribute sets are hashed for every route learned and
    /// exported, and they are ours (a peer cannot choose what collides any
    /// more than the seed lets it).
    set: HashSet<Arc<PathAttributes>, foldhash::fast::RandomState>,
}

impl Interner {
    /// The shared `Arc` of `attrs`, made on first use.
    pub fn intern(&mut self, attrs: PathAttributes) -> Arc<PathAttributes> {
        if let Some(a) = self.set.get(&attrs) {
            return Arc::clone(a);
        }
        let a = Arc::new(attrs);
        self.set.insert(Arc::clone(&a));
        a
    }

    /// The shared `Arc` of a set equal to `attrs`, copied only on first use.
    pub fn intern_ref(&mut self, attrs: &PathAttributes) -> Arc<PathAttributes> {
        if let Some(a) = self.set.get(attrs) {
            return Arc::clone(a);
        }
        let a = Arc::new(attrs.clone());
        self.set.insert(Arc::clone(&a));
        a
    }

    /// Hands back one user's `Arc`; the set leaves the table when that was
    /// its last user (the table's own reference plus `attrs`).
    pub fn release(&mut self, attrs: Arc<PathAttributes>) {
        if Arc::strong_count(&attrs) == 2 {
            self.set.remove(&*attrs);
        }
    }

    /// Number of distinct attribute sets held.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}
