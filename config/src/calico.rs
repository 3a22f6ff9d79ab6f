//! Calico's datastore model: the label selector language, the resources Calico keeps in etcd
//! (`/calico/resources/v3/projectcalico.org/…`, `/calico/ipam/v2/host/…`), a snapshot of them, and
//! their translation into a [`DesiredState`](crate::DesiredState) exactly as Calico's confd does it.

pub mod selector;

pub use selector::{Selector, SelectorError};
