//! "Did you mean …?": the closest known name to a mistyped flag, command or
//! profile key. Pure string work.

/// The closest of `known` to `key` (edit distance ≤ 3, or a shared prefix).
pub fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 3.max(key.len() / 3) || k.starts_with(key) || key.starts_with(*k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["tunnel_id", "mcp_server_url", "api_key", "poll_interval_ms"];
        assert_eq!(closest("tunel_id", &known), Some("tunnel_id"));
        assert_eq!(closest("apikey", &known), Some("api_key"));
        assert_eq!(closest("poll_interval", &known), Some("poll_interval_ms"));
        assert_eq!(closest("zzzzzzzzzzzzzzzzzzzz", &known), None);
    }
}
