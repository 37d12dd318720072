//! The page's files, embedded in the binary: it fetches nothing from elsewhere.

/// The page.
pub const INDEX_HTML: &str = include_str!("page/index.html");
/// Its script: drawing, the debounced requests, the bars, the input and feature views.
pub const APP_JS: &str = include_str!("page/app.js");
/// Its style sheet.
pub const STYLE_CSS: &str = include_str!("page/style.css");
