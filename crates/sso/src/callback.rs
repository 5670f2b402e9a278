//! The loopback listener that receives the browser's redirect at the end of a PKCE sign-in:
//! one `GET /oauth/callback?code=…&state=…` (or `?error=…`), answered with a small page.

use crate::error::SsoError;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The callback path, registered as `http://127.0.0.1/oauth/callback`.
pub(crate) const CALLBACK_PATH: &str = "/oauth/callback";

/// The most of a request head that is read; a browser's GET is far smaller.
const MAX_HEAD: usize = 16 * 1024;

/// How long one connection may take to send its request (a browser's speculative
/// pre-connection sends nothing and must not hold up the real one forever).
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The query of the callback request.
#[derive(Debug, Default, PartialEq, Eq)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Waits for the callback and returns the authorization code, checking `state`. Requests for
/// other paths (a favicon) are answered 404 and the wait goes on.
pub(crate) async fn receive_code(
    listener: &TcpListener,
    expected_state: &str,
    timeout: Duration,
) -> Result<String, SsoError> {
    let wait = async {
        loop {
            let (stream, peer) = listener.accept().await.map_err(|e| SsoError::Callback {
                reason: e.to_string(),
            })?;
            tracing::debug!(%peer, "sign-in callback connection");
            match handle(stream, expected_state).await {
                Ok(Some(outcome)) => return outcome,
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "ignoring a broken callback connection"),
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

/// Serves one connection: `Some(outcome)` if it was the callback, `None` for anything else.
async fn handle(
    mut stream: TcpStream,
    expected_state: &str,
) -> std::io::Result<Option<Result<String, SsoError>>> {
    let head = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request"))??;
    let Some(target) = request_target(&head) else {
        respond(&mut stream, 400, "keyfob: bad request").await?;
        return Ok(None);
    };
    let Some(query) = parse_target(&target) else {
        respond(&mut stream, 404, "keyfob: not found").await?;
        return Ok(None);
    };
    let outcome = judge(&query, expected_state);
    let (status, text) = match &outcome {
        Ok(_) => (200, "keyfob: signed in, you can close this tab.".to_owned()),
        Err(e) => (400, format!("keyfob: sign-in failed: {e}")),
    };
    respond(&mut stream, status, &text).await?;
    Ok(Some(outcome))
}

/// What the callback's query means for this login.
fn judge(query: &CallbackQuery, expected_state: &str) -> Result<String, SsoError> {
    if let Some(error) = &query.error {
        let detail = query
            .error_description
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| error.clone());
        return Err(SsoError::Denied {
            detail: Some(detail),
        });
    }
    // Compare before looking at the code: a request with the wrong state is not ours, and its
    // code must never be exchanged.
    if query.state.as_deref() != Some(expected_state) {
        return Err(SsoError::StateMismatch);
    }
    match &query.code {
        Some(code) if !code.is_empty() => Ok(code.clone()),
        _ => Err(SsoError::Denied {
            detail: Some("the callback carried no authorization code".to_owned()),
        }),
    }
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

    /// Sends one raw GET and returns the whole response.
    async fn get(port: u16, target: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
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
    async fn state_mismatch_takes_no_code() {
        let (l, port) = listener().await;
        let client =
            tokio::spawn(async move { get(port, "/oauth/callback?code=abc&state=forged").await });
        let err = receive_code(&l, "s1", Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(matches!(err, SsoError::StateMismatch), "{err}");
        let page = client.await.unwrap();
        assert!(page.starts_with("HTTP/1.1 400"), "{page}");
        assert!(page.contains("sign-in failed"), "{page}");
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
        assert_eq!(judge(&q, "x").unwrap(), "y");
        let q = parse_target("/oauth/callback?state=x").unwrap();
        assert!(matches!(judge(&q, "x"), Err(SsoError::Denied { .. })));
    }
}
