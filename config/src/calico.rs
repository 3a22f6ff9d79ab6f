//! Calico's datastore model: the label selector language, the resources Calico keeps in etcd
//! (`/calico/resources/v3/projectcalico.org/…`, `/calico/ipam/v2/host/…`), a snapshot of them
//! ([`Datastore`], fed key by key so that a watcher can keep it current), and its translation into
//! a [`DesiredState`](crate::DesiredState) exactly as Calico's confd does it.

pub mod datastore;
pub mod resources;
pub mod selector;
mod translate;

pub use datastore::{Change, Datastore};
pub use resources::{parse_key, parse_kv, Resource, ResourceError, ResourceKey};
pub use selector::{Selector, SelectorError};
pub use translate::{TranslateError, TranslateOptions, DEFAULT_ASN, EXCLUDE_FROM_LB_LABEL};
