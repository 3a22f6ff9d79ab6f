//! The watch's state, sans-IO: links by index, and the local routes that
//! pass the filter. The driver feeds it kernel messages (parsed) and full
//! dumps; it answers with the add/change/remove events consumers see.

use std::collections::{BTreeMap, HashMap};

use crate::filter::RouteFilter;
use crate::route::{LocalRoute, LocalRouteEvent, RouteKey};

/// A network interface as the watch knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFF_UP`.
    pub up: bool,
}

/// The local routes that pass the filter, kept in step with the kernel.
#[derive(Debug)]
pub struct KernelView {
    filter: RouteFilter,
    /// Routes of this protocol are tern's own installs: never reported, so
    /// what BGP learned does not come back as a local route.
    own_protocol: Option<u8>,
    links: HashMap<u32, Link>,
    routes: BTreeMap<RouteKey, LocalRoute>,
}

impl KernelView {
    pub fn new(filter: RouteFilter) -> Self {
        KernelView { filter, own_protocol: None, links: HashMap::new(), routes: BTreeMap::new() }
    }

    /// Never reports routes of `protocol` (tern's own).
    pub fn ignoring_protocol(mut self, protocol: u8) -> Self {
        self.own_protocol = Some(protocol);
        self
    }

    fn accepts(&self, route: &LocalRoute) -> bool {
        Some(route.protocol) != self.own_protocol && self.filter.accepts(route)
    }

    pub fn link(&self, index: u32) -> Option<&Link> {
        self.links.get(&index)
    }

    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.links.values()
    }

    /// A link appeared or changed. A rename changes which routes the
    /// interface patterns accept, so routes on the link are evaluated again.
    pub fn link_update(&mut self, link: Link) -> Vec<LocalRouteEvent> {
        let index = link.index;
        let renamed = self.links.get(&index).is_some_and(|old| old.name != link.name);
        self.links.insert(index, link);
        if !renamed {
            return Vec::new();
        }
        self.reevaluate_link(index)
    }

    /// A link went away. The kernel drops its IPv4 routes without telling
    /// (no RTM_DELROUTE), so the driver follows this with a dump.
    pub fn link_removed(&mut self, index: u32) {
        self.links.remove(&index);
    }

    fn reevaluate_link(&mut self, index: u32) -> Vec<LocalRouteEvent> {
        let on_link: Vec<LocalRoute> = self
            .routes
            .values()
            .filter(|r| r.ifindex == Some(index) || r.multipath.iter().any(|h| h.ifindex == index))
            .cloned()
            .collect();
        on_link.into_iter().filter_map(|r| self.route_added(r)).collect()
    }

    fn name_interfaces(&self, route: &mut LocalRoute) {
        route.interface = route.ifindex.and_then(|i| self.links.get(&i)).map(|l| l.name.clone());
        for hop in &mut route.multipath {
            hop.interface = self.links.get(&hop.ifindex).map(|l| l.name.clone());
        }
    }

    /// RTM_NEWROUTE: a route was added or replaced at its key.
    pub fn route_added(&mut self, mut route: LocalRoute) -> Option<LocalRouteEvent> {
        self.name_interfaces(&mut route);
        let key = route.key();
        if !self.accepts(&route) {
            // A replace may turn a selected route into one that is not.
            return self.routes.remove(&key).map(LocalRouteEvent::Removed);
        }
        match self.routes.insert(key, route.clone()) {
            None => Some(LocalRouteEvent::Added(route)),
            Some(old) if old == route => None,
            Some(old) => Some(LocalRouteEvent::Changed { old, new: route }),
        }
    }

    /// RTM_DELROUTE: the route at this key is gone.
    pub fn route_removed(&mut self, route: &LocalRoute) -> Option<LocalRouteEvent> {
        self.routes.remove(&route.key()).map(LocalRouteEvent::Removed)
    }

    /// Replaces the whole view with a fresh dump (at start, and after lost
    /// events); returns the difference as events.
    pub fn resync(&mut self, dump: Vec<LocalRoute>) -> Vec<LocalRouteEvent> {
        let mut fresh = BTreeMap::new();
        for mut route in dump {
            self.name_interfaces(&mut route);
            if self.accepts(&route) {
                fresh.insert(route.key(), route);
            }
        }
        let mut events = Vec::new();
        for (key, old) in &self.routes {
            if !fresh.contains_key(key) {
                events.push(LocalRouteEvent::Removed(old.clone()));
            }
        }
        for (key, new) in &fresh {
            match self.routes.get(key) {
                None => events.push(LocalRouteEvent::Added(new.clone())),
                Some(old) if old != new => events.push(LocalRouteEvent::Changed { old: old.clone(), new: new.clone() }),
                Some(_) => {}
            }
        }
        self.routes = fresh;
        events
    }

    /// Replaces the link table with a fresh dump.
    pub fn resync_links(&mut self, links: Vec<Link>) {
        self.links = links.into_iter().map(|l| (l.index, l)).collect();
    }

    /// Every selected route, ordered by table, prefix, metric.
    pub fn snapshot(&self) -> Vec<LocalRoute> {
        self.routes.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{RouteKind, TABLE_MAIN};

    fn route(prefix: &str, proto: u8, ifindex: Option<u32>) -> LocalRoute {
        LocalRoute {
            prefix: prefix.parse().expect("prefix"),
            table: TABLE_MAIN,
            kind: if ifindex.is_some() { RouteKind::Unicast } else { RouteKind::Blackhole },
            protocol: proto,
            metric: 0,
            interface: None,
            ifindex,
            gateway: None,
            src: None,
            multipath: Vec::new(),
        }
    }

    fn view() -> KernelView {
        let mut v = KernelView::new(RouteFilter::default().protocols([80, 3]).exclude_interfaces(["tunl0"]));
        v.link_update(Link { index: 2, name: "cali1".into(), up: true });
        v.link_update(Link { index: 3, name: "eth0".into(), up: true });
        v
    }

    #[test]
    fn add_change_remove_produce_events_with_interface_names() {
        let mut v = view();
        let ev = v.route_added(route("10.0.0.5/32", 3, Some(2))).expect("added");
        assert_eq!(ev.route().interface.as_deref(), Some("cali1"));
        assert!(matches!(ev, LocalRouteEvent::Added(_)));
        assert_eq!(v.route_added(route("10.0.0.5/32", 3, Some(2))), None, "identical replace is no event");
        let ev = v.route_added(route("10.0.0.5/32", 3, Some(3))).expect("changed");
        assert!(matches!(ev, LocalRouteEvent::Changed { ref old, ref new }
            if old.interface.as_deref() == Some("cali1") && new.interface.as_deref() == Some("eth0")));
        let ev = v.route_removed(&route("10.0.0.5/32", 3, None)).expect("removed");
        assert!(matches!(ev, LocalRouteEvent::Removed(_)));
        assert!(v.is_empty());
    }

    #[test]
    fn filtered_routes_are_invisible_and_a_replace_out_of_the_filter_removes() {
        let mut v = view();
        assert_eq!(v.route_added(route("10.0.0.0/26", 12, None)), None);
        assert!(v.route_added(route("10.0.0.0/26", 80, None)).is_some());
        let ev = v.route_added(route("10.0.0.0/26", 12, None));
        assert!(matches!(ev, Some(LocalRouteEvent::Removed(_))));
        assert_eq!(v.route_removed(&route("10.9.0.0/26", 80, None)), None);
    }

    #[test]
    fn our_own_routes_never_come_back_as_local_routes() {
        let mut v = KernelView::new(RouteFilter::default()).ignoring_protocol(12);
        assert_eq!(v.route_added(route("10.0.0.0/26", 12, None)), None);
        assert!(v.resync(vec![route("10.0.0.0/26", 12, None)]).is_empty());
        assert!(v.route_added(route("10.0.0.0/26", 80, None)).is_some());
    }

    #[test]
    fn resync_reports_the_difference_only() {
        let mut v = view();
        v.route_added(route("10.0.0.0/26", 80, None));
        v.route_added(route("10.0.0.64/26", 80, None));
        v.route_added(route("10.0.0.5/32", 3, Some(2)));
        let events = v.resync(vec![
            route("10.0.0.0/26", 80, None),
            route("10.0.0.5/32", 3, Some(3)),
            route("10.0.0.128/26", 80, None),
            route("10.0.0.192/26", 12, None),
        ]);
        let mut kinds: Vec<(String, &str)> = events
            .iter()
            .map(|e| {
                let k = match e {
                    LocalRouteEvent::Added(_) => "added",
                    LocalRouteEvent::Changed { .. } => "changed",
                    LocalRouteEvent::Removed(_) => "removed",
                };
                (e.route().prefix.to_string(), k)
            })
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            vec![
                ("10.0.0.128/26".to_string(), "added"),
                ("10.0.0.5/32".to_string(), "changed"),
                ("10.0.0.64/26".to_string(), "removed"),
            ]
        );
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn renaming_a_link_into_an_excluded_name_removes_its_routes() {
        let mut v = view();
        v.route_added(route("10.0.0.0/26", 80, Some(3)));
        let events = v.link_update(Link { index: 3, name: "tunl0".into(), up: true });
        assert!(matches!(events.as_slice(), [LocalRouteEvent::Removed(_)]));
        let events = v.link_update(Link { index: 3, name: "tunl0".into(), up: false });
        assert!(events.is_empty());
    }
}
