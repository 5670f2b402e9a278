//! The loopback listener that receives the browser's redirect at the end of a PKCE sign-in:
//! `GET /oauth/callback?code=…&state=…` (or `?error=…`), answered with a small page.
//!
//! Any local process can reach this port, so only a request that carries the `state` this
//! login sent (and the loopback `Host` with this port) can end the wait. Anything else is
//! answered (400 wrong or missing state, 403 wrong Host, 404 other paths) and the wait goes on
//! for the browser, until the overall timeout.

use crate::error::SsoError;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The callback path, registered as `http://127.0.0.1/oauth/callback`.
pub(crate) const CALLBACK_PATH: &str = "/oauth/callback";

/// The most of a request head that is read; a browser's GET is far smaller.
const MAX_HEAD: usize = 16 * 1024;

/// How long one connection may take to send its request (a browser's speculative
/// pre-connection sends nothing and must not hold up the real one forever).
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once: a local process that opens many and sends nothing cannot
/// keep the browser's request from being read.
const MAX_CONNECTIONS: usize = 16;

/// The query of the callback request.
#[derive(Debug, Default, PartialEq, Eq)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The loopback port `listener` took (the redirect URI names it).
pub(crate) fn port_of(listener: &TcpListener) -> Result<u16, SsoError> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| SsoError::Callback {
            reason: e.to_string(),
        })
}

/// Waits for the callback with `expected_state` and returns its authorization code (or the
/// error it carries). Requests for other paths, with another `Host`, or without this login's
/// state are answered and the wait goes on.
pub(crate) async fn receive_code(
    listener: &TcpListener,
    expected_state: &str,
    timeout: Duration,
) -> Result<String, SsoError> {
    let port = port_of(listener)?;
    let wait = async {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept(), if connections.len() < MAX_CONNECTIONS => {
                    let (stream, peer) = accepted.map_err(|e| SsoError::Callback {
                        reason: e.to_string(),
                    })?;
                    tracing::debug!(%peer, "sign-in callback connection");
                    let expected = expected_state.to_owned();
                    connections.spawn(async move { handle(stream, &expected, port).await });
                }
                Some(done) = connections.join_next() => match done {
                    Ok(Ok(Some(outcome))) => return outcome,
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => tracing::debug!(error = %e, "ignoring a broken callback connection"),
                    Err(e) => tracing::debug!(error = %e, "a callback connection task failed"),
                },
            }
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(result) => result,
        Err(_) => Err(SsoError::CallbackTimeout {
            minutes: timeout.as_secs().div_ceil(60).max(1),
        }),
    }
}

/// Serves one connection: `Some(outcome)` if it was this login's callback, `None` for
/// anything else.
async fn handle(
    mut stream: TcpStream,
    expected_state: &str,
    port: u16,
) -> std::io::Result<Option<Result<String, SsoError>>> {
    let head = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request"))??;
    let Some(target) = request_target(&head) else {
        respond(&mut stream, 400, "keyfob: bad request").await?;
        return Ok(None);
    };
    if !host_is_ours(&head, port) {
        tracing::warn!("refused a sign-in callback request with a foreign Host header");
        respond(
            &mut stream,
            403,
            "keyfob: this address answers only 127.0.0.1",
        )
        .await?;
        return Ok(None);
    }
    let Some(query) = parse_target(&target) else {
        respond(&mut stream, 404, "keyfob: not found").await?;
        return Ok(None);
    };
    let Some(outcome) = judge(&query, expected_state) else {
        tracing::warn!(
            "refused a sign-in callback without this login's state (a stale tab or another local process); still waiting"
        );
        respond(
            &mut stream,
            400,
            "keyfob: this request does not belong to the sign-in in progress; it was ignored.",
        )
        .await?;
        return Ok(None);
    };
    let (status, text) = match &outcome {
        Ok(_) => (200, "keyfob: signed in, you can close this tab.".to_owned()),
        Err(e) => (400, format!("keyfob: sign-in failed: {e}")),
    };
    respond(&mut stream, status, &text).await?;
    Ok(Some(outcome))
}

/// What the callback's query means for this login: `None` if it is not this login's (its
/// `state` is missing or another), else the code or the error it carries.
fn judge(query: &CallbackQuery, expected_state: &str) -> Option<Result<String, SsoError>> {
    // The state first, for errors too: a request without it is not ours, and neither its
    // code nor its error may end this login.
    if query.state.as_deref() != Some(expected_state) {
        return None;
    }
    if let Some(error) = &query.error {
        let detail = query
            .error_description
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| error.clone());
        return Some(Err(SsoError::Denied {
            detail: Some(detail),
        }));
    }
    Some(match &query.code {
        Some(code) if !code.is_empty() => Ok(code.clone()),
        _ => Err(SsoError::Denied {
            detail: Some("the callback carried no authorization code".to_owned()),
        }),
    })
}

/// Whether the request's `Host` is this listener: `127.0.0.1:PORT` or `localhost:PORT`. A
/// page in the user's browser that rebinds a name of its own to 127.0.0.1 sends its own name.
fn host_is_ours(head: &str, port: u16) -> bool {
    let mut hosts = head.lines().skip(1).filter_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("host")
            .then(|| value.trim().to_ascii_lowercase())
    });
    let (Some(host), None) = (hosts.next(), hosts.next()) else {
        return false;
    };
    [format!("127.0.0.1:{port}"), format!("localhost:{port}")].contains(&host)
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() >= MAX_HEAD {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The target of a `GET` request line.
fn request_target(head: &str) -> Option<String> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?;
    let target = parts.next()?;
    (method == "GET" && target.starts_with('/')).then(|| target.to_owned())
}

/// The query of a request for the callback path; `None` for any other path.
fn parse_target(target: &str) -> Option<CallbackQuery> {
    let url = url::Url::parse(&format!("http://127.0.0.1{target}")).ok()?;
    if url.path() != CALLBACK_PATH {
        return None;
    }
    let mut q = CallbackQuery::default();
    for (k, v) in url.query_pairs() {
        let slot = match k.as_ref() {
            "code" => &mut q.code,
            "state" => &mut q.state,
            "error" => &mut q.error,
            "error_description" => &mut q.error_description,
            _ => continue,
        };
        slot.get_or_insert_with(|| v.into_owned());
    }
    Some(q)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

async fn respond(stream: &mut TcpStream, status: u16, text: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>keyfob</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><p>{}</p></body></html>\n",
        html_escape(text)
    );
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends one raw GET with this `Host` and returns the whole response.
    async fn get_with_host(port: u16, target: &str, host: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    async fn get(port: u16, target: &str) -> String {
        get_with_host(port, target, &format!("127.0.0.1:{port}")).await
    }

    async fn listener() -> (TcpListener, u16) {
        let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = l.local_addr().unwrap().port();
        (l, port)
    }

    #[tokio::test]
    async fn good_code_is_returned_and_the_page_says_so() {
        let (l, port) = listener().await;
        let client = tokio::spawn(async move {
            let favicon = get(port, "/favicon.ico").await;
            assert!(favicon.starts_with("HTTP/1.1 404"), "{favicon}");
            get(port, "/oauth/callback?code=abc%2F123&state=s1").await
        });
        let code = receive_code(&l, "s1", Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(code, "abc/123");
        let page = client.await.unwrap();
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("signed in, you can close this tab"), "{page}");
    }

    #[tokio::test]
    async fn requests_without_this_logins_state_are_refused_and_the_wait_goes_on() {
        let (l, port) = listener().await;
        let client = tokio::spawn(async move {
            let mut pages = Vec::new();
            for hostile in [
                "/oauth/callback?code=forged&state=forged",
                "/oauth/callback?code=forged",
                "/oauth/callback?error=access_denied&error_description=abort",
                "/oauth/callback?error=access_denied&state=forged",
                "/oauth/callback?code=forged&state=",
            ] {
                pages.push(get(port, hostile).await);
            }
            pages.push(get(port, "/oauth/callback?code=real&state=s1").await);
            pages
        });
        let code = receive_code(&l, "s1", Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(code, "real", "the forged code is never taken");
        let pages = client.await.unwrap();
        for page in &pages[..5] {
            assert!(page.starts_with("HTTP/1.1 400"), "{page}");
            assert!(page.contains("was ignored"), "{page}");
        }
        assert!(pages[5].starts_with("HTTP/1.1 200"), "{}", pages[5]);
    }

    #[tokio::test]
    async fn a_foreign_host_is_refused() {
        let (l, port) = listener().await;
        let client = tokio::spawn(async move {
            let rebound = get_with_host(
                port,
                "/oauth/callback?code=abc&state=s1",
                &format!("attacker.example:{port}"),
            )
            .await;
            let other_port =
                get_with_host(port, "/oauth/callback?code=abc&state=s1", "127.0.0.1:1").await;
            let ok = get_with_host(
                port,
                "/oauth/callback?code=abc&state=s1",
                &format!("localhost:{port}"),
            )
            .await;
            (rebound, other_port, ok)
        });
        let code = receive_code(&l, "s1", Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(code, "abc");
        let (rebound, other_port, ok) = client.await.unwrap();
        assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
        assert!(other_port.starts_with("HTTP/1.1 403"), "{other_port}");
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    }

    #[tokio::test]
    async fn a_silent_connection_does_not_hold_up_the_browser() {
        let (l, port) = listener().await;
        let client = tokio::spawn(async move {
            // Connected, and never a byte: it would hold a one-at-a-time server for 10 s.
            let _silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            get(port, "/oauth/callback?code=abc&state=s1").await
        });
        // Well under READ_TIMEOUT: the browser's request is read while the other idles.
        let code = receive_code(&l, "s1", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(code, "abc");
        assert!(client.await.unwrap().starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn error_aborts_with_its_description() {
        let (l, port) = listener().await;
        let client = tokio::spawn(async move {
            get(
                port,
                "/oauth/callback?error=access_denied&error_description=User%20%3Cb%3Edenied%3C%2Fb%3E&state=s1",
            )
            .await
        });
        let err = receive_code(&l, "s1", Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the sign-in was denied in the browser: User <b>denied</b>; run keyfob login again"
        );
        let page = client.await.unwrap();
        assert!(page.contains("User &lt;b&gt;denied&lt;/b&gt;"), "{page}");
    }

    #[tokio::test]
    async fn silence_times_out() {
        let (l, _port) = listener().await;
        let err = receive_code(&l, "s1", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SsoError::CallbackTimeout { minutes: 1 }),
            "{err}"
        );
    }

    #[test]
    fn parsing() {
        assert_eq!(request_target("GET /a?b HTTP/1.1\r\n"), Some("/a?b".into()));
        assert_eq!(request_target("POST /a HTTP/1.1\r\n"), None);
        assert!(parse_target("/other?code=1").is_none());
        let q = parse_target("/oauth/callback?state=x&code=y&code=z").unwrap();
        assert_eq!(q.code.as_deref(), Some("y"));
        assert_eq!(judge(&q, "x").unwrap().unwrap(), "y");
        assert!(judge(&q, "other").is_none());
        let q = parse_target("/oauth/callback?state=x").unwrap();
        assert!(matches!(judge(&q, "x"), Some(Err(SsoError::Denied { .. }))));
        let head = |host: &str| format!("GET / HTTP/1.1\r\n{host}\r\n\r\n");
        assert!(host_is_ours(&head("Host: 127.0.0.1:4711"), 4711));
        assert!(host_is_ours(&head("host:LOCALHOST:4711"), 4711));
        assert!(!host_is_ours(&head("Host: 127.0.0.1"), 4711));
        assert!(!host_is_ours(&head("Host: evil.example:4711"), 4711));
        assert!(!host_is_ours(&head("X-Other: 1"), 4711));
        assert!(!host_is_ours(
            &head("Host: 127.0.0.1:4711\r\nHost: evil.example:4711"),
            4711
        ));
    }
}
