//! Smoke run of the node propagation benchmark (`examples/propagation`):
//! a 5-node mesh of tern and one of BIRD 1.6, Felix-style blackholes added
//! on node 1 and deleted again. Every addition must reach node 5's kernel
//! and every deletion must leave it; times are not asserted. Needs root.

#[allow(dead_code)]
#[path = "../examples/propagation/measure.rs"]
mod measure;

use std::path::PathBuf;
use std::time::Duration;

use fib::testns::skip_unless_root;
use measure::{Binaries, Observe, System, Testbed};

const ADDITIONS: usize = 5;
const LIMIT: Duration = Duration::from_secs(15);

fn bins() -> Binaries {
    let dir = std::env::var_os("TERN_BIRD1_DIR").map(PathBuf::from).unwrap_or_else(|| "/opt/tern-test/bird1".into());
    let bird1 = dir.join("usr/sbin/bird");
    assert!(bird1.exists(), "{} missing: run scripts/install-test-deps.sh (scripts/test.sh does)", bird1.display());
    Binaries { speaker: PathBuf::from(env!("CARGO_BIN_EXE_tern-speaker")), bird1 }
}

/// Adds and deletes `ADDITIONS` blackholes on node 1 of `bed`: each shows up
/// in node 5's kernel (seen as a route event and, for the last one, by
/// `ip route show`), then disappears from it.
async fn adds_and_withdrawals_reach_the_last_node(bed: &mut Testbed) {
    let name = bed.system.name();
    for k in 0..ADDITIONS {
        let observe = if k + 1 == ADDITIONS { Observe::Poll(Duration::from_millis(5)) } else { Observe::Monitor };
        let prefix = bed.prefix(k);
        assert!(
            bed.add(prefix, observe, LIMIT).await.is_some(),
            "{name}: {prefix} never reached node 5\n{}",
            bed.dump()
        );
        let via = format!("via {}", bed.cluster.nodes[0].spec.address.addr());
        let routes = bed.cluster.nodes[bed.last].routes(&["proto", "bird"]);
        assert!(
            routes.iter().any(|l| l.starts_with(&format!("{prefix} ")) && l.contains(&via)),
            "{name}: node 5 has no route to {prefix} {via}: {routes:?}"
        );
        assert!(
            bed.remove(prefix, observe, LIMIT).await.is_some(),
            "{name}: {prefix} stayed on node 5\n{}",
            bed.dump()
        );
        let routes = bed.cluster.nodes[bed.last].routes(&["proto", "bird"]);
        assert!(!routes.iter().any(|l| l.starts_with(&format!("{prefix} "))), "{name}: {prefix} left: {routes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propagation_blackhole_on_node1_reaches_and_leaves_node5_tern_and_bird16() {
    if skip_unless_root("propagation_blackhole_on_node1_reaches_and_leaves_node5_tern_and_bird16") {
        return;
    }
    let bins = bins();
    let mut tern = Testbed::start(System::Tern, "ppt", 40, 5, &bins).await.expect("tern testbed");
    let mut bird = Testbed::start(System::Bird1, "ppb", 41, 5, &bins).await.expect("BIRD 1.6 testbed");
    for bed in [&tern, &bird] {
        if let Err(dump) = bed.converge(Duration::from_secs(60)) {
            panic!("{}: mesh did not converge:\n{dump}", bed.system.name());
        }
    }
    adds_and_withdrawals_reach_the_last_node(&mut tern).await;
    adds_and_withdrawals_reach_the_last_node(&mut bird).await;
}
