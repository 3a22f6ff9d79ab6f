//! A snapshot of Calico's objects, fed key by key (an initial list, then watch events).

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::resources::{
    parse_key, parse_kv, BgpConfiguration, BgpPeer, BlockAffinity, IpPool, Node, Resource, ResourceError, ResourceKey,
};

/// What `apply_put`/`apply_delete` did to the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A key this model does not use, or a value equal to the one held.
    Unchanged,
    Updated,
}

/// Calico's objects by name. A malformed object is kept out (and listed in
/// [`malformed`](Datastore::malformed)) until a valid value or a delete arrives for its key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Datastore {
    pub nodes: BTreeMap<String, Node>,
    pub bgp_peers: BTreeMap<String, BgpPeer>,
    pub bgp_configurations: BTreeMap<String, BgpConfiguration>,
    pub ip_pools: BTreeMap<String, IpPool>,
    /// By node, then block.
    pub block_affinities: BTreeMap<String, BTreeMap<IpNet, BlockAffinity>>,
    malformed: BTreeMap<String, ResourceError>,
}

impl Datastore {
    pub fn new() -> Datastore {
        Datastore::default()
    }

    /// A snapshot from a full listing; the malformed objects are in [`malformed`](Self::malformed).
    pub fn from_kvs<'a>(kvs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Datastore {
        let mut ds = Datastore::new();
        for (k, v) in kvs {
            // A malformed object is recorded in the snapshot and skipped; the rest go on.
            let _ = ds.apply_put(k, v);
        }
        ds
    }

    /// Applies a put. A malformed value removes what the key held before (etcd no longer holds it)
    /// and is reported; other keys are never affected.
    pub fn apply_put(&mut self, key: &str, value: &[u8]) -> Result<Change, ResourceError> {
        match parse_kv(key, value) {
            Ok(None) => Ok(Change::Unchanged),
            Ok(Some(resource)) => {
                let was_malformed = self.malformed.remove(key).is_some();
                let changed = self.insert(resource);
                Ok(if changed || was_malformed { Change::Updated } else { Change::Unchanged })
            }
            Err(e) => {
                self.remove(key);
                self.malformed.insert(key.to_string(), e.clone());
                Err(e)
            }
        }
    }

    /// Applies a delete.
    pub fn apply_delete(&mut self, key: &str) -> Change {
        let was_malformed = self.malformed.remove(key).is_some();
        if self.remove(key) || was_malformed {
            Change::Updated
        } else {
            Change::Unchanged
        }
    }

    /// Objects whose current value does not parse, by key.
    pub fn malformed(&self) -> impl Iterator<Item = &ResourceError> {
        self.malformed.values()
    }

    /// The IPAM blocks affine to `node`.
    pub fn blocks_of(&self, node: &str) -> impl Iterator<Item = &BlockAffinity> {
        self.block_affinities.get(node).into_iter().flat_map(|m| m.values())
    }

    fn insert(&mut self, resource: Resource) -> bool {
        fn put<K: Ord, V: PartialEq>(map: &mut BTreeMap<K, V>, k: K, v: V) -> bool {
            if map.get(&k) == Some(&v) {
                return false;
            }
            map.insert(k, v);
            true
        }
        match resource {
            Resource::Node(n) => put(&mut self.nodes, n.name.clone(), n),
            Resource::BgpPeer(p) => put(&mut self.bgp_peers, p.name.clone(), p),
            Resource::BgpConfiguration(c) => put(&mut self.bgp_configurations, c.name.clone(), c),
            Resource::IpPool(p) => put(&mut self.ip_pools, p.name.clone(), p),
            Resource::BlockAffinity(b) => put(self.block_affinities.entry(b.node.clone()).or_default(), b.cidr, b),
        }
    }

    fn remove(&mut self, key: &str) -> bool {
        match parse_key(key) {
            Ok(Some(ResourceKey::Node(n))) => self.nodes.remove(&n).is_some(),
            Ok(Some(ResourceKey::BgpPeer(n))) => self.bgp_peers.remove(&n).is_some(),
            Ok(Some(ResourceKey::BgpConfiguration(n))) => self.bgp_configurations.remove(&n).is_some(),
            Ok(Some(ResourceKey::IpPool(n))) => self.ip_pools.remove(&n).is_some(),
            Ok(Some(ResourceKey::BlockAffinity { node, cidr })) => {
                let Some(blocks) = self.block_affinities.get_mut(&node) else { return false };
                let removed = blocks.remove(&cidr).is_some();
                if blocks.is_empty() {
                    self.block_affinities.remove(&node);
                }
                removed
            }
            Ok(None) | Err(_) => false,
        }
    }
}
