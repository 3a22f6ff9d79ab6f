//! RFC 6793 §4.2.3: rebuilding the 4-octet AS path and aggregator of a route
//! received from a 2-octet-AS ("OLD") speaker.

use super::{Aggregator, AsPath, AsSegment, PathAttributes, SegmentType};
use crate::types::AS_TRANS;

fn is_confed(s: &AsSegment) -> bool {
    matches!(s.kind, SegmentType::ConfedSequence | SegmentType::ConfedSet)
}

impl AsPath {
    /// The path length as route selection counts it (RFC 4271 §9.1.2.2 a,
    /// RFC 5065 §5.3): an AS_SET counts one, confederation segments none.
    pub fn route_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::AsSequence => s.asns.len(),
                SegmentType::AsSet => 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
            })
            .sum()
    }
}

impl PathAttributes {
    /// AGGREGATOR with AS4_AGGREGATOR applied (RFC 6793 §4.2.3): the
    /// AS4_AGGREGATOR replaces an AGGREGATOR whose AS is AS_TRANS.
    pub fn effective_aggregator(&self) -> Option<Aggregator> {
        match (self.aggregator, self.as4_aggregator) {
            (Some(a), Some(a4)) if a.asn == AS_TRANS => Some(a4),
            (a, _) => a,
        }
    }

    /// AS_PATH with AS4_PATH merged in (RFC 6793 §4.2.3).
    ///
    /// AS4_PATH is ignored when AGGREGATOR is present with an AS other than
    /// AS_TRANS, or when it counts more ASes than AS_PATH; otherwise the
    /// leading part of AS_PATH that AS4_PATH lacks (with adjacent
    /// confederation segments) is prepended to AS4_PATH. Confederation
    /// segments inside AS4_PATH, which must not be there (RFC 6793 §3), are
    /// dropped. A decoder working for a 4-octet-AS session never fills
    /// `as4_path` (RFC 6793 §4.2.2), so this is then AS_PATH itself.
    pub fn effective_as_path(&self) -> Option<AsPath> {
        let as_path = self.as_path.as_ref()?;
        let Some(as4) = &self.as4_path else {
            return Some(as_path.clone());
        };
        if matches!(self.aggregator, Some(a) if a.asn != AS_TRANS) {
            return Some(as_path.clone());
        }
        let as4_len: usize = as4.segments.iter().filter(|s| !is_confed(s)).map(segment_len).sum();
        let Some(mut keep) = as_path.route_len().checked_sub(as4_len) else {
            return Some(as_path.clone());
        };
        let mut segments = Vec::with_capacity(as_path.segments.len() + as4.segments.len());
        let mut prev_prepended = false;
        for (i, seg) in as_path.segments.iter().enumerate() {
            if is_confed(seg) {
                // "SHALL be prepended if it is either the leading path segment
                // or adjacent to a path segment that is prepended".
                if i == 0 || prev_prepended || keep > 0 {
                    segments.push(seg.clone());
                    continue;
                }
                break;
            }
            if keep == 0 {
                break;
            }
            match seg.kind {
                SegmentType::AsSet => {
                    segments.push(seg.clone());
                    keep -= 1;
                    prev_prepended = true;
                }
                _ => {
                    let take = keep.min(seg.asns.len());
                    segments.push(AsSegment { kind: seg.kind, asns: seg.asns[..take].to_vec() });
                    keep -= take;
                    prev_prepended = take == seg.asns.len();
                    if !prev_prepended {
                        break;
                    }
                }
            }
        }
        for seg in as4.segments.iter().filter(|s| !is_confed(s)) {
            match segments.last_mut() {
                Some(last)
                    if last.kind == SegmentType::AsSequence
                        && seg.kind == SegmentType::AsSequence
                        && last.asns.len() + seg.asns.len() <= 255 =>
                {
                    last.asns.extend_from_slice(&seg.asns)
                }
                _ => segments.push(seg.clone()),
            }
        }
        Some(AsPath { segments })
    }
}

impl PathAttributes {
    /// The attributes to send to a 2-octet-AS ("OLD") speaker (RFC 6793
    /// §4.2.2): when AS_PATH or AGGREGATOR hold AS numbers above 65535 (the
    /// encoder writes those as AS_TRANS), AS4_PATH (without confederation
    /// segments, RFC 6793 §3) and AS4_AGGREGATOR carry the real ones.
    /// Existing AS4 attributes are replaced.
    pub fn for_two_octet_peer(&self) -> PathAttributes {
        let mut out = self.clone();
        out.as4_path = None;
        out.as4_aggregator = None;
        let wide = |asn: &u32| *asn > 0xffff;
        if let Some(p) = &self.as_path {
            if p.segments.iter().any(|s| s.asns.iter().any(wide)) {
                let segments = p.segments.iter().filter(|s| !is_confed(s)).cloned().collect();
                out.as4_path = Some(AsPath { segments });
            }
        }
        if let Some(a) = self.aggregator.filter(|a| wide(&a.asn)) {
            out.as4_aggregator = Some(a);
        }
        out
    }
}

fn segment_len(s: &AsSegment) -> usize {
    match s.kind {
        SegmentType::AsSequence => s.asns.len(),
        SegmentType::AsSet => 1,
        SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
    }
}
