//! Sharing: the permalink, the CLI command, and the clipboard.

use super::*;

impl Ctx {
    pub(crate) fn copy_link(self) {
        let panels = self.panels.get_untracked();
        let view = self.view.get_untracked();
        let list: Vec<(String, &Surface)> = panels
            .iter()
            .map(|p| (p.label.clone(), &p.surface))
            .collect();
        match permalink::encode(&view, &list) {
            Ok(fragment) => {
                let location = window().location();
                let base = format!(
                    "{}{}",
                    location.origin().unwrap_or_default(),
                    location.pathname().unwrap_or_default()
                );
                let url = format!("{base}#{fragment}");
                if let Ok(history) = window().history() {
                    let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url));
                }
                let errors: Vec<String> = panels
                    .iter()
                    .map(|p| {
                        let e = p
                            .surface
                            .metrics
                            .get(&view.metric)
                            .map_or(0.0, permalink::max_error);
                        format!("{} ±{:.1e}", p.label, e)
                    })
                    .collect();
                self.copy(
                    url.clone(),
                    "link",
                    format!(
                        " ({} characters). Values are stored to 16 bits: {} ({}).",
                        url.len(),
                        errors.join(", "),
                        view.metric
                    ),
                );
                self.link.set(url);
            }
            Err(e) => self.error.set(Some(e.to_string())),
        }
    }

    /// Put `text` on the clipboard and say whether that worked; when the browser refuses, the
    /// text stays in its box to copy by hand.
    pub(crate) fn copy(self, text: String, what: &'static str, detail: String) {
        let promise = window().navigator().clipboard().write_text(&text);
        let notice = self.notice;
        wasm_bindgen_futures::spawn_local(async move {
            let said = match wasm_bindgen_futures::JsFuture::from(promise).await {
                Ok(_) => format!("The {what} is copied{detail}"),
                Err(_) => format!(
                    "The browser did not let the page copy the {what}: select it in its box and \
                     copy it yourself{detail}"
                ),
            };
            notice.set(Some(said));
        });
    }

    /// The `vitscape sweep --spec` command of every panel, one line each: run from a vitscape
    /// checkout (the demo files) or the folder of your files, it recomputes the same surfaces.
    pub(crate) fn copy_command(self) {
        let panels = self.panels.get_untracked();
        let lines: Result<Vec<String>, String> = panels
            .iter()
            .map(|p| {
                crate::spec::cli_command(&p.surface.spec, &slug(&p.label))
                    .map_err(|e| format!("{}: {e}", p.label))
            })
            .collect();
        match lines {
            Ok(lines) => {
                let text = lines.join("\n");
                self.command.set(text.clone());
                self.copy(
                    text,
                    "CLI command",
                    format!(
                        " ({} panel{}). Run it in a vitscape checkout or beside your files; \
                         it finds each file by its sha256.",
                        lines.len(),
                        if lines.len() == 1 { "" } else { "s" }
                    ),
                );
            }
            Err(e) => self.error.set(Some(e)),
        }
    }
}
