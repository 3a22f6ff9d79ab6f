//! Tables as calicoctl prints them (Go's `olekukonko/tablewriter` with its
//! defaults): `+---+` borders, headers upper-cased and centred, cells
//! left-aligned (numbers right-aligned), cells wider than 30 columns
//! wrapped at spaces with the least raggedness.

/// tablewriter's `MAX_ROW_WIDTH`.
const MAX_CELL_WIDTH: usize = 30;

fn width(s: &str) -> usize {
    s.chars().count()
}

/// `-?(\d{1,3}(,\d{3})*|\d+)(\.\d+)?`: cells tablewriter right-aligns.
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if int.is_empty() {
        return false;
    }
    if int.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    let groups: Vec<&str> = int.split(',').collect();
    groups[0].len() <= 3
        && groups.iter().all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
        && groups[1..].iter().all(|g| g.len() == 3)
}

/// Breaks `words` into lines of at most `limit` columns (one space between
/// words) so that the sum of squared slack over all lines but the last is
/// smallest; a line that must exceed the limit costs a large penalty.
fn wrap_words(words: &[&str], limit: usize) -> Vec<String> {
    let n = words.len();
    if n == 0 {
        return vec![String::new()];
    }
    const PENALTY: i64 = 100_000;
    // length(i, j): the words i..=j on one line.
    let length = |i: usize, j: usize| -> usize { words[i..=j].iter().map(|w| width(w)).sum::<usize>() + (j - i) };
    let mut cost = vec![i64::MAX; n];
    let mut next = vec![n; n];
    for i in (0..n).rev() {
        if length(i, n - 1) <= limit {
            cost[i] = 0;
            next[i] = n;
            continue;
        }
        for j in i + 1..n {
            let len = length(i, j - 1);
            let slack = limit as i64 - len as i64;
            let mut c = slack * slack + cost[j];
            if len > limit {
                c += PENALTY;
            }
            if c < cost[i] {
                cost[i] = c;
                next[i] = j;
            }
        }
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        lines.push(words[i..next[i]].join(" "));
        i = next[i];
    }
    lines
}

/// A cell's lines and the width it needs.
fn cell_lines(text: &str) -> (Vec<String>, usize) {
    let paragraphs: Vec<&str> = text.split('\n').collect();
    let widest = paragraphs.iter().map(|p| width(p)).max().unwrap_or(0);
    let limit = widest.min(MAX_CELL_WIDTH);
    let mut need = limit;
    let mut lines = Vec::new();
    for (i, p) in paragraphs.iter().enumerate() {
        let words: Vec<&str> = p.split(' ').collect();
        let limit = words.iter().map(|w| width(w)).fold(limit, usize::max);
        let wrapped = wrap_words(&words, limit);
        need = wrapped.iter().map(|l| width(l)).fold(need, usize::max);
        if i > 0 {
            lines.push(" ".to_string());
        }
        lines.extend(wrapped);
    }
    (lines, need)
}

fn centre(s: &str, w: usize) -> String {
    let gap = w.saturating_sub(width(s));
    let left = gap / 2;
    format!("{}{s}{}", " ".repeat(left), " ".repeat(gap - left))
}

/// Renders `header` and `rows` as calicoctl's tables look.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let titles: Vec<String> = header.iter().map(|h| h.replace('_', " ").trim().to_uppercase()).collect();
    let heads: Vec<(Vec<String>, usize)> = titles.iter().map(|h| cell_lines(h)).collect();
    let cells: Vec<Vec<(Vec<String>, usize)>> = rows
        .iter()
        .map(|r| (0..cols).map(|i| cell_lines(r.get(i).map(String::as_str).unwrap_or(""))).collect())
        .collect();
    let widths: Vec<usize> = (0..cols).map(|i| cells.iter().map(|r| r[i].1).fold(heads[i].1, usize::max)).collect();

    let mut border = String::from("+");
    for w in &widths {
        border.push_str(&"-".repeat(w + 2));
        border.push('+');
    }
    border.push('\n');

    let mut out = border.clone();
    let head_height = heads.iter().map(|h| h.0.len()).max().unwrap_or(1);
    for line in 0..head_height {
        out.push('|');
        for (i, h) in heads.iter().enumerate() {
            let text = h.0.get(line).map(String::as_str).unwrap_or("");
            out.push_str(&format!(" {} |", centre(text, widths[i])));
        }
        out.push('\n');
    }
    out.push_str(&border);
    for row in &cells {
        let height = row.iter().map(|c| c.0.len()).max().unwrap_or(1);
        for line in 0..height {
            out.push('|');
            for (i, c) in row.iter().enumerate() {
                let text = c.0.get(line).map(String::as_str).unwrap_or("");
                let w = widths[i];
                let cell = if is_decimal(text.trim()) { format!("{text:>w$}") } else { format!("{text:<w$}") };
                out.push_str(&format!(" {cell} |"));
            }
            out.push('\n');
        }
    }
    out.push_str(&border);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calicoctl_documentation_table() {
        // The example of Calico's `calicoctl node status` documentation.
        let rows = vec![vec![
            "172.17.8.102".to_string(),
            "node-to-node mesh".to_string(),
            "up".to_string(),
            "23:30:04".to_string(),
            "Established".to_string(),
        ]];
        let expected = "\
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 172.17.8.102 | node-to-node mesh | up    | 23:30:04 | Established |
+--------------+-------------------+-------+----------+-------------+
";
        assert_eq!(render(&["Peer address", "Peer type", "State", "Since", "Info"], &rows), expected);
    }

    #[test]
    fn wrapped_info_as_calicoctl_prints_it() {
        // A `calicoctl node status` printed in a public troubleshooting
        // guide: two info cells wider than 30 columns.
        let row = |a: &str, info: &str| {
            vec![a.to_string(), "node-to-node mesh".to_string(), "start".into(), "2018-10-19".into(), info.into()]
        };
        let rows = vec![
            row("192.168.1.172", "Connect Socket: Connection closed"),
            row("192.168.1.196", "Active Socket: Connection reset by peer"),
        ];
        let expected = "\
+---------------+-------------------+-------+------------+--------------------------------+
| PEER ADDRESS  |     PEER TYPE     | STATE |   SINCE    |              INFO              |
+---------------+-------------------+-------+------------+--------------------------------+
| 192.168.1.172 | node-to-node mesh | start | 2018-10-19 | Connect Socket: Connection     |
|               |                   |       |            | closed                         |
| 192.168.1.196 | node-to-node mesh | start | 2018-10-19 | Active Socket: Connection      |
|               |                   |       |            | reset by peer                  |
+---------------+-------------------+-------+------------+--------------------------------+
";
        assert_eq!(render(&["Peer address", "Peer type", "State", "Since", "Info"], &rows), expected);
    }

    #[test]
    fn long_cells_wrap_with_least_raggedness() {
        assert_eq!(
            cell_lines("Connect Socket: No route to host"),
            (vec!["Connect Socket: No route to".to_string(), "host".to_string()], 30)
        );
        assert_eq!(cell_lines("Established"), (vec!["Established".to_string()], 11));
        // A word longer than the limit stays whole.
        let long = "x".repeat(40);
        assert_eq!(cell_lines(&format!("a {long}")), (vec!["a".to_string(), long.clone()], 40));
    }

    #[test]
    fn numbers_are_right_aligned() {
        assert!(is_decimal("1,234.5"));
        assert!(is_decimal("-12"));
        assert!(!is_decimal("10.99.0.2"));
        assert!(!is_decimal("23:30:04"));
        assert!(!is_decimal("1,23"));
        let t = render(&["n", "name"], &[vec!["7".into(), "x".into()], vec!["100".into(), "yy".into()]]);
        assert!(t.contains("|   7 | x    |"), "{t}");
    }
}
