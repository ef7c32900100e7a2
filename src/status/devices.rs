//! The devices' line of `status`: who is connected now, per protocol, from the rows the
//! daemon keeps for its open IMAP and SMTP connections (`store.devices().connections()`).

use serde_json::json;

use super::Part;

/// `connections` is (protocol, devices, connections) per protocol, as the store counts them.
pub fn render(connections: &[(String, i64, i64)]) -> Part {
    let plural = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let line = if connections.is_empty() {
        "devices connected: none".to_string()
    } else {
        let parts: Vec<String> = connections
            .iter()
            .map(|(p, d, c)| {
                format!(
                    "{} {} ({})",
                    p.to_uppercase(),
                    plural(*d, "device", "devices"),
                    plural(*c, "connection", "connections")
                )
            })
            .collect();
        format!("devices connected: {}", parts.join(", "))
    };
    let by_protocol: serde_json::Map<String, serde_json::Value> =
        connections.iter().map(|(p, d, c)| (p.clone(), json!({ "devices": d, "connections": c }))).collect();
    Part { lines: vec![line], json: json!({ "connected": by_protocol }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_connected() {
        let p = render(&[]);
        assert_eq!(p.lines, ["devices connected: none"]);
        assert_eq!(p.json, json!({ "connected": {} }));
    }

    #[test]
    fn per_protocol_devices_and_connections() {
        let p = render(&[("imap".into(), 2, 3), ("smtp".into(), 1, 1)]);
        assert_eq!(p.lines, ["devices connected: IMAP 2 devices (3 connections), SMTP 1 device (1 connection)"]);
        assert_eq!(
            p.json,
            json!({ "connected": {
                "imap": { "devices": 2, "connections": 3 },
                "smtp": { "devices": 1, "connections": 1 },
            }})
        );
    }
}
