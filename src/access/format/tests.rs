use super::*;

fn tomcat10(p: &str) -> LineFormat {
    LineFormat::compile(p, Dialect::Tomcat(10))
}

#[test]
fn tomcat_line_from_a_public_source() {
    // SumoLogic's Tomcat 7 access-log sample (docs/manage/field-extractions/fer-templates/
    // apache-tomcat-access-log-fer.md), pattern "%h %l %u %t "%r" %s %b %D": Tomcat 7 logged %D in ms.
    let f = LineFormat::compile("%h %l %u %t \"%r\" %s %b %D", Dialect::Tomcat(7));
    let r = f
        .parse(br#"192.100.20.135 - - [07/Oct/2014:22:44:16 +0000] "GET /ServiceAPI/mappings/123456/load HTTP/1.1" 200 1414 6234"#)
        .unwrap();
    assert_eq!(r.method, b"GET");
    assert_eq!(r.path, b"/ServiceAPI/mappings/123456/load");
    assert_eq!(
        (r.status, r.bytes, r.duration_us),
        (200, 1414, Some(6_234_000))
    );
    // Tomcat 10 and later: %D is microseconds.
    let f = tomcat10("combined");
    assert!(!f.has_duration);
    let f = tomcat10("%h %l %u %t \"%r\" %s %b %D");
    let r = f
        .parse(br#"10.0.0.1 - - [29/Nov/2026:23:20:07 +0000] "POST /a?x=1 HTTP/1.1" 500 - 1234"#)
        .unwrap();
    assert_eq!(
        (r.method, r.path, r.status, r.bytes, r.duration_us),
        (&b"POST"[..], &b"/a"[..], 500, 0, Some(1234))
    );
}

#[test]
fn tomcat_aliases_headers_threads_and_units() {
    let f = tomcat10("combined");
    let r = f
        .parse(br#"127.0.0.1 - bob [29/Nov/2026:23:20:07 +0000] "GET /x HTTP/1.1" 200 5 "http://a/\"q\" b" "curl/8.5.0""#)
        .unwrap();
    assert_eq!((r.path, r.bytes), (&b"/x"[..], 5));
    let f = tomcat10("%a %{yyyy-MM-dd HH:mm:ss}t %m %U%q %s %B %{ms}T [%I] %T %{fractional}T");
    let r = f
        .parse(b"::1 2026-11-29 23:20:07 PUT /orders/7?full=1 201 17 42 [http-nio-8080-exec-3] 1 0.042")
        .unwrap();
    assert_eq!(
        (r.method, r.path, r.status),
        (&b"PUT"[..], &b"/orders/7"[..], 201)
    );
    assert_eq!(r.thread, Some(&b"http-nio-8080-exec-3"[..]));
    // The last duration field wins: %{fractional}T.
    assert_eq!(r.duration_us, Some(42_000));
    assert!(f.parse(b"garbage").is_err());
    assert!(f.parse(b"").is_err());
}

#[test]
fn apache_lines_from_a_public_source() {
    // The NCSA sample netdata's web_log README quotes: "%h %l %u %t \"%r\" %>s %b".
    let f = LineFormat::compile("%h %l %u %t \"%r\" %>s %b", Dialect::Apache);
    let r = f
        .parse(
            br#"64.242.88.10 - - [07/Mar/2004:16:47:12 -0800] "GET /robots.txt HTTP/1.1" 200 68"#,
        )
        .unwrap();
    assert_eq!((r.path, r.status, r.bytes), (&b"/robots.txt"[..], 200, 68));
    let f = LineFormat::compile("%h %l %u %t \"%r\" %>s %O %I %D", Dialect::Apache);
    let r = f
        .parse(br#"203.0.113.9 - - [07/Mar/2004:16:47:12 -0800] "HEAD / HTTP/1.0" 304 120 80 1500"#)
        .unwrap();
    assert_eq!((r.bytes, r.duration_us, r.thread), (120, Some(1500), None));
}

#[test]
fn nginx_lines_from_a_public_source() {
    // goaccess issue #885 (github.com/allinurl/goaccess/issues/885): a real nginx log_format and its lines.
    let f = LineFormat::compile(
        "$remote_addr - $remote_user [$time_local] \"$request\" $status $bytes_sent \"$http_referer\" \"$http_user_agent\" \"$uid_got\" \"$uid_set\" $msec adfr=\"$cookie_adfr\" dv=\"$cookie_dv\" dvr=\"$cookie_dvr\" lv=\"$cookie_lv\" lvr=\"$cookie_lvr\" rt=$request_time ut=\"$upstream_response_time\" cs=$upstream_cache_status ua=\"$upstream_addr\" us=\"$upstream_status\"",
        Dialect::Nginx,
    );
    let r = f
        .parse(br#"10.16.32.116 - - [18/Sep/2017:00:00:02 +0300] "GET /clusters/info?rubricator_id=1&ids=37189260 HTTP/1.1" 200 2961 "-" "python-requests/2.13.0" "-" "-" 1505682002.133 adfr="-" dv="-" dvr="-" lv="-" lvr="-" rt=0.151 ut="0.151" cs=MISS ua="10.16.20.25:8084" us="200""#)
        .unwrap();
    assert_eq!((r.method, r.path), (&b"GET"[..], &b"/clusters/info"[..]));
    assert_eq!(
        (r.status, r.bytes, r.duration_us),
        (200, 2961, Some(151_000))
    );
    // goaccess issue #215: nginx combined plus "$http_x_forwarded_for" $request_time.
    let f = LineFormat::compile("combined", Dialect::Nginx);
    assert!(f.parse(br#"192.168.17.1 - - [05/Feb/2015:22:24:29 +0400] "POST / HTTP/1.1" 200 12015 "http://www.watch-sell.com/" "Mozilla/5.0 (Windows NT 6.1; WOW64)""#).is_ok());
    let f = LineFormat::compile(
        "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" \"$http_x_forwarded_for\" $request_time",
        Dialect::Nginx,
    );
    let r = f
        .parse(br#"192.168.17.1 - - [05/Feb/2015:22:24:29 +0400] "POST / HTTP/1.1" 200 12015 "http://www.watch-sell.com/" "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/40.0.2214.94 Safari/537.36" "-" 20.178"#)
        .unwrap();
    assert_eq!(r.duration_us, Some(20_178_000));
}

#[test]
fn numbers() {
    assert_eq!(micros(b"0.004", Unit::Secs), Some(4000));
    assert_eq!(micros(b"12", Unit::Millis), Some(12_000));
    assert_eq!(micros(b"1.2345678", Unit::Secs), Some(1_234_567));
    assert_eq!(micros(b".5", Unit::Secs), Some(500_000));
    assert_eq!(micros(b"", Unit::Secs), None);
    assert_eq!(micros(b"1.x", Unit::Secs), None);
    assert_eq!(micros(b"99999999999999999", Unit::Secs), None);
    assert_eq!(int(b"18446744073709551615"), None);
}

proptest::proptest! {
    // Patterns and lines are both written by others: whatever they hold, compiling and parsing never panic.
    #[test]
    fn never_panics(p in "(%[a-zA-Z%>{}]|%\\{[a-z:,]{0,5}\\}[a-zA-Z]|\\$[a-z_]{1,8}|[ \"\\[\\]-]|\\PC){0,12}",
                    line in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        for d in [Dialect::Tomcat(9), Dialect::Tomcat(10), Dialect::Apache, Dialect::Nginx, Dialect::Undertow] {
            let f = LineFormat::compile(&p, d);
            let _ = f.parse(&line);
        }
    }

    #[test]
    fn combined_lines_parse_back(status in 100u16..600, bytes in 0u64..1_000_000_000, us in 0u64..100_000_000,
                                 path in "/[a-z0-9/._-]{0,40}", ua in "[ -~]{0,60}") {
        let f = tomcat10("%h %l %u %t \"%r\" %s %b \"%{Referer}i\" \"%{User-Agent}i\" %D");
        let ua = ua.replace('\\', "\\\\").replace('"', "\\\"");
        let line = format!("10.1.2.3 - - [29/Nov/2026:23:20:07 +0000] \"GET {path} HTTP/1.1\" {status} {bytes} \"-\" \"{ua}\" {us}");
        let r = f.parse(line.as_bytes()).unwrap();
        proptest::prop_assert_eq!((r.status, r.bytes, r.duration_us), (status, bytes, Some(us)));
        proptest::prop_assert_eq!(r.path, path.as_bytes());
    }
}
