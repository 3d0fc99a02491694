//! Names a session after the device that opened it: an explicit header wins, else the user
//! agent as `<browser> v<version> on <os> <os version>`, else the raw user agent.

/// Session names are stored and listed; this bounds what one request can make us keep.
pub const MAX_NAME_CHARS: usize = 256;

pub fn session_name(explicit: Option<&str>, user_agent: Option<&str>) -> String {
    let name = match (
        explicit.map(str::trim).filter(|n| !n.is_empty()),
        user_agent,
    ) {
        (Some(name), _) => name.to_owned(),
        (None, Some(ua)) => describe_user_agent(ua).unwrap_or_else(|| ua.trim().to_owned()),
        (None, None) => String::new(),
    };
    let name = if name.is_empty() {
        "Unknown".to_owned()
    } else {
        name
    };
    name.chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect()
}

fn describe_user_agent(ua: &str) -> Option<String> {
    let (browser, version) = browser(ua)?;
    let os = os(ua)?;
    Some(format!("{browser} v{version} on {os}"))
}

fn browser(ua: &str) -> Option<(&'static str, &str)> {
    // Order matters: Edge and Opera also claim Chrome, and Chrome also claims Safari.
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("Edge/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
    ];
    for (marker, name) in BROWSERS {
        if let Some(version) = version_after(ua, marker) {
            return Some((name, version));
        }
    }
    if ua.contains("Safari/") {
        return version_after(ua, "Version/").map(|v| ("Safari", v));
    }
    None
}

fn os(ua: &str) -> Option<String> {
    if let Some(nt) = version_after(ua, "Windows NT ") {
        let name = match nt {
            "10.0" => "10",
            "6.3" => "8.1",
            "6.2" => "8",
            "6.1" => "7",
            other => other,
        };
        return Some(format!("Windows {name}"));
    }
    for marker in ["iPhone OS ", "CPU OS "] {
        if let Some(v) = version_after(ua, marker) {
            return Some(format!("iOS {}", v.replace('_', ".")));
        }
    }
    if let Some(v) = version_after(ua, "Mac OS X ") {
        return Some(format!("macOS {}", v.replace('_', ".")));
    }
    if let Some(v) = version_after(ua, "Android ") {
        return Some(format!("Android {v}"));
    }
    if ua.contains("CrOS") {
        return Some("Chrome OS".into());
    }
    if ua.contains("Linux") {
        return Some("Linux".into());
    }
    None
}

/// The version-like run of characters right after `marker`, if any.
fn version_after<'a>(ua: &'a str, marker: &str) -> Option<&'a str> {
    let start = ua.find(marker)? + marker.len();
    let rest = &ua[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::session_name;

    #[test]
    fn names_common_browsers() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome v120.0.0.0 on Windows 10"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox v121.0 on Linux"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "Safari v17.1 on macOS 10.15.7"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Safari v17.1 on iOS 17.1"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36", "Chrome v120.0.6099.144 on Android 14"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", "Edge v120.0.2210.91 on Windows 10"),
        ];
        for (ua, want) in cases {
            assert_eq!(session_name(None, Some(ua)), want);
        }
    }

    #[test]
    fn header_wins_and_raw_agent_is_the_fallback() {
        assert_eq!(session_name(Some("Laptop"), Some("curl/8.0")), "Laptop");
        assert_eq!(session_name(Some("  "), Some("ShareX/15.0")), "ShareX/15.0");
        assert_eq!(session_name(None, None), "Unknown");
        assert_eq!(session_name(Some(&"x".repeat(1000)), None).len(), 256);
    }
}
