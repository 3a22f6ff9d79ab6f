//! Calico's datastore model: the label selector language, the resources Calico keeps in etcd
//! (`/calico/resources/v3/projectcalico.org/…`, `/calico/ipam/v2/host/…`), a snapshot of them
//! ([`Datastore`], fed key by key so that a watcher can keep it current), and its translation into
//! a [`DesiredState`](crate::DesiredState) exactly as Calico's confd does it.
//!
//! ```
//! use config::calico::{Datastore, TranslateOptions};
//!
//! let mut ds = Datastore::new();
//! let node = r#"{"metadata":{"name":"n1","labels":{"rack":"r1"}},"spec":{"bgp":{"ipv4Address":"10.0.0.1/24"}}}"#;
//! ds.apply_put("/calico/resources/v3/projectcalico.org/nodes/n1", node.as_bytes()).unwrap();
//! let tor = r#"{"spec":{"nodeSelector":"rack == 'r1'","peerIP":"10.0.0.254","asNumber":65000}}"#;
//! ds.apply_put("/calico/resources/v3/projectcalico.org/bgppeers/tor", tor.as_bytes()).unwrap();
//! let state = ds.desired_state("n1", &TranslateOptions::default()).unwrap();
//! assert_eq!(state.peers[0].name, "Node_10_0_0_254");
//! assert_eq!((state.asn, state.peers[0].remote_asn), (64512, 65000));
//! ```

pub mod datastore;
pub mod resources;
pub mod selector;
mod translate;

pub use datastore::{Change, Datastore};
pub use resources::{parse_key, parse_kv, Resource, ResourceError, ResourceKey, WATCH_PREFIXES};
pub use selector::{Selector, SelectorError};
pub use translate::{TranslateError, TranslateOptions, DEFAULT_ASN, EXCLUDE_FROM_LB_LABEL};
