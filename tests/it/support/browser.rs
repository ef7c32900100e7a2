//! A real headless Chromium, driven over WebDriver (`fantoccini` → Debian's chromedriver), for
//! the console's browser tests.
//!
//! One browser at a time: [`Browser::start`] holds a process-wide lock until the browser is
//! closed (two Chromiums on two cores wait seconds on their first tab). Chromedriver runs in
//! its own process group, so a test that panics still takes Chromium down with it (Drop kills
//! the group); [`Browser::close`] ends the WebDriver session first, the clean way. With
//! `CI=true` a missing chromedriver fails the test; elsewhere `start` returns `None` and the
//! test says it was not run. Screenshots go to `target/console-screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

fn driver_path() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].iter().map(PathBuf::from).find(|p| p.exists())
}

/// Where screenshots are kept.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Browser {
    /// A fresh browser with an empty profile, `width`×`height` pixels, asking for German.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        Browser::start_in(width, height, "de").await
    }

    /// [`Browser::start`] with Chromium's language (its `Accept-Language`) set to `lang`.
    pub async fn start_in(width: u32, height: u32, lang: &str) -> Option<Browser> {
        let turn = ONE_AT_A_TIME.lock().await;
        let Some(driver_bin) = driver_path() else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI: chromedriver is missing (scripts/install)");
            eprintln!("browser test not run: no chromedriver here (scripts/install installs it)");
            return None;
        };
        let port = super::free_port();
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromedriver.log");
        let mut cmd = Command::new(driver_bin);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .env("LANGUAGE", lang)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd.spawn().expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not open its port");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--disable-default-apps", format!("--window-size={width},{height}"),
                         format!("--lang={lang}"), format!("--accept-lang={lang}"),
                         format!("--user-data-dir={}", profile.path().join("profile").display())]
            }
        });
        let mut caps = caps;
        // Headless Chromium keeps a window at least 500 pixels wide: a phone's screen is
        // emulated (the viewport, not the user agent), so 390 pixels are 390.
        if width < 500 {
            caps["goog:chromeOptions"]["mobileEmulation"] =
                serde_json::json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}});
        }
        let caps = caps.as_object().unwrap().clone().into_iter().collect();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            Duration::from_secs(60),
            ClientBuilder::new(connector).capabilities(caps).connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .expect("Chromium started in time")
        .unwrap_or_else(|e| panic!("Chromium: {e}; see {}", log.display()));
        Some(Browser { client, driver, profile, _turn: turn })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    pub async fn path(&self) -> String {
        let u = self.client.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Type `text` into the field named `name` (cleared first).
    pub async fn fill(&self, name: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(&format!("[name=\"{name}\"]")))
            .await
            .unwrap_or_else(|e| panic!("field {name}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Click the element `css` and wait until the next page has replaced this one.
    pub async fn click(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        let e = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        e.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        // The old document's root goes stale once the next page is there.
        while old.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "clicking {css} loaded no new page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.client.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css("body")).await;
    }

    /// Log in on the console at `base` (e.g. `http://127.0.0.1:PORT`).
    pub async fn login(&self, base: &str, name: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.fill("name", name).await;
        self.fill("password", password).await;
        self.click("form[action=\"/login\"] button[type=submit]").await;
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let e = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        e.text().await.unwrap()
    }

    /// A screenshot of the whole window, saved as `name`.png; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// End the WebDriver session (which ends Chromium), then chromedriver.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(30), self.client.clone().close()).await;
        self.kill();
    }

    fn kill(&mut self) {
        // SAFETY: kill(2) on chromedriver's own process group (made by process_group(0)).
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
        let _ = &self.profile;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}
