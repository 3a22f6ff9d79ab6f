//! `ternctl mrt FILE` prints exactly what `bgpdump -m FILE` prints (Debian's
//! bgpdump 1.6.2), for every MRT file in `tests/data/bgp/mrt`. One test per
//! file so the test runner spreads them over the cores; the full IPv6 RIB is
//! the slow one (bgpdump alone needs about a minute for it).
//!
//! bgpdump must be installed (`apt-get install bgpdump`; `scripts/test.sh`
//! does it): without it these tests fail rather than pass vacuously.

use std::path::PathBuf;
use std::process::{Command, Output};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bgp/mrt")
}

fn run(cmd: &mut Command, what: &str) -> Output {
    match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && what == "bgpdump" => panic!(
            "`bgpdump` is not installed, but these tests compare against it: install it \
             (Debian/Ubuntu: `apt-get install bgpdump`; scripts/test.sh installs it)"
        ),
        Err(e) => panic!("cannot run {what}: {e}"),
    }
}

/// First differing line, for a readable failure.
fn first_difference(ours: &[u8], theirs: &[u8]) -> String {
    let mut a = ours.split(|&b| b == b'\n');
    let mut b = theirs.split(|&b| b == b'\n');
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (None, None) => return "identical".into(),
            (x, y) if x == y => line += 1,
            (x, y) => {
                let show =
                    |l: Option<&[u8]>| l.map_or("<end of output>".into(), |l| String::from_utf8_lossy(l).into_owned());
                return format!("line {line}:\n  ternctl: {}\n  bgpdump: {}", show(x), show(y));
            }
        }
    }
}

fn compare(file: &str) {
    let path = data_dir().join(file);
    assert!(path.is_file(), "{} is missing", path.display());
    // Both at once: bgpdump needs about a minute for the full IPv6 RIB.
    let ours = {
        let path = path.clone();
        std::thread::spawn(move || run(Command::new(env!("CARGO_BIN_EXE_ternctl")).arg("mrt").arg(&path), "ternctl"))
    };
    let theirs = run(Command::new("bgpdump").arg("-m").arg(&path), "bgpdump");
    let ours = ours.join().expect("ternctl runner");
    assert!(theirs.status.success(), "bgpdump failed on {file}: {}", String::from_utf8_lossy(&theirs.stderr));
    assert!(ours.status.success(), "ternctl failed on {file}: {}", String::from_utf8_lossy(&ours.stderr));
    assert!(!theirs.stdout.is_empty(), "bgpdump printed nothing for {file}");
    assert!(
        ours.stdout == theirs.stdout,
        "{file}: ternctl mrt ({} bytes) differs from bgpdump -m ({} bytes) at {}",
        ours.stdout.len(),
        theirs.stdout.len(),
        first_difference(&ours.stdout, &theirs.stdout)
    );
}

macro_rules! same_as_bgpdump {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $name() {
                compare($file);
            }
        )*

        /// The list above covers every file of the folder.
        #[test]
        fn every_mrt_file_is_compared() {
            let mut listed = vec![$($file),*];
            listed.sort_unstable();
            let mut on_disk: Vec<String> = std::fs::read_dir(data_dir())
                .expect("mrt data folder")
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "SOURCES.md")
                .collect();
            on_disk.sort_unstable();
            assert_eq!(on_disk, listed);
        }
    };
}

same_as_bgpdump! {
    bview_ipv4_unicast_add_path => "bgpdump__bview.ipv4_unicast_add_path.gz",
    updates_20070211 => "bgpdump__updates.20070211.0141.gz",
    updates_20100722 => "bgpdump__updates.20100722.2015.gz",
    updates_20160811 => "bgpdump__updates.20160811.1600.gz",
    updates_et_header => "bgpdump__updates.et-header.2015.gz",
    bird_mrtdump_bgp => "mrtparse__bird-mrtdump_bgp",
    bird_mrtdump_rib => "mrtparse__bird-mrtdump_rib",
    bird6_bgp => "mrtparse__bird6_bgp",
    bird_bgp => "mrtparse__bird_bgp",
    openbgpd_bgp => "mrtparse__openbgpd_bgp",
    openbgpd_rib_table => "mrtparse__openbgpd_rib_table",
    openbgpd_rib_table_v2 => "mrtparse__openbgpd_rib_table-v2",
    quagga_bgp => "mrtparse__quagga_bgp",
    quagga_rib => "mrtparse__quagga_rib",
    rrc00_bview_2002_table_dump_v1 => "ris-rrc00__bview.20020722.2337.gz",
    rrc00_updates_2018 => "ris-rrc00__updates.20181218.1140.gz",
    rrc06_updates_2015 => "ris-rrc06__updates.20150401.0000.gz",
    rrc15_updates_2010 => "ris-rrc15__updates.20100227.1600.gz",
    routeviews_jinx_updates => "routeviews-jinx__updates.20150401.0000.bz2",
    routeviews2_rib_first_9069_prefixes => "routeviews2__rib.20140523.0600.first9069prefixes.bz2",
    routeviews6_full_ipv6_rib => "routeviews6__rib.20150922.1200.full-ipv6.bz2",
    routeviews6_updates => "routeviews6__updates.20151009.1230.bz2",
    routeviews_updates_et => "routeviews__updates.20240914.ET.bz2",
}

/// A plain copy of a compressed file under another name still decodes:
/// compression is recognised by magic bytes, not by extension.
#[test]
fn compression_is_detected_by_magic_bytes() {
    let dir = std::env::temp_dir().join(format!("ternctl-mrt-magic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (src, name) in
        [("routeviews__updates.20240914.ET.bz2", "dump-a"), ("bgpdump__bview.ipv4_unicast_add_path.gz", "dump-b.mrt")]
    {
        let copy = dir.join(name);
        std::fs::copy(data_dir().join(src), &copy).expect("copy");
        let renamed = run(Command::new(env!("CARGO_BIN_EXE_ternctl")).arg("mrt").arg(&copy), "ternctl");
        let original = run(Command::new(env!("CARGO_BIN_EXE_ternctl")).arg("mrt").arg(data_dir().join(src)), "ternctl");
        assert!(renamed.status.success() && !renamed.stdout.is_empty(), "{name}");
        assert_eq!(renamed.stdout, original.stdout, "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A corrupt record is reported on stderr with its offset; the records the
/// framing still delimits are printed.
#[test]
fn truncated_dump_prints_what_it_can_and_reports_the_offset() {
    let src = data_dir().join("mrtparse__quagga_rib");
    let data = std::fs::read(&src).expect("read");
    let dir = std::env::temp_dir().join(format!("ternctl-mrt-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cut = dir.join("cut.mrt");
    std::fs::write(&cut, &data[..data.len() - 5]).expect("write");
    let full = run(Command::new(env!("CARGO_BIN_EXE_ternctl")).arg("mrt").arg(&src), "ternctl");
    let out = run(Command::new(env!("CARGO_BIN_EXE_ternctl")).arg("mrt").arg(&cut), "ternctl");
    let _ = std::fs::remove_dir_all(&dir);
    let full_lines = full.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    let cut_lines = out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert_eq!(full_lines, 9);
    // The last record (fd01:1:2::/64 from both peers) is lost, the rest printed.
    assert_eq!(cut_lines, 7);
    assert!(full.stdout.starts_with(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("offset") && stderr.contains("exceeds"), "stderr: {stderr}");
}
