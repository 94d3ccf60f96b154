//! The reading side of a case: what the testee sends, checked against what the steps expect
//! and against §3/§5 whatever the step.

use mywebsocket_files::TransferId;
use serde_json::{Map, Value};

use super::Run;
use crate::cases::Role;
use crate::peer::Incoming;

impl Run<'_> {
    pub(super) fn chunk_read(&mut self, chunk: &bytes::Bytes) -> Result<(), String> {
        if self.case.role == Role::Receiver {
            return Err("the receiver under test sent a chunk".into());
        }
        let id = chunk
            .get(4..20)
            .map(hex::encode)
            .ok_or("a chunk too short to hold an id")?;
        let name = self
            .name_of(&id)
            .ok_or_else(|| format!("a chunk for id {id}, which was never offered"))?;
        self.track(&name)?.chunk_read(chunk)
    }

    pub(super) fn ack_read(&mut self, map: &Map<String, Value>) -> Result<(), String> {
        let id = map.get("id").and_then(Value::as_str).unwrap_or_default();
        let name = self
            .name_of(id)
            .ok_or_else(|| format!("an ack for id {id:?}, which the runner never offered"))?;
        let offset = map
            .get("offset")
            .and_then(Value::as_u64)
            .ok_or("an ack without an integer offset")?;
        self.track(&name)?.ack_read(offset)?;
        self.vars.acked.insert(name, offset);
        Ok(())
    }

    /// Reads one message; acks (unless `expecting` is `ack`), chunks and application
    /// messages are checked and taken here, other control messages returned.
    pub(super) async fn read_one(
        &mut self,
        expecting: Option<&Value>,
    ) -> Result<Option<Map<String, Value>>, String> {
        match self.peer.next().await? {
            Incoming::App => Ok(None),
            Incoming::Chunk(chunk) => self.chunk_read(&chunk).map(|()| None),
            Incoming::Control(map) => {
                let is_ack = map.get("ft").and_then(Value::as_str) == Some("ack");
                if is_ack && expecting.and_then(Value::as_str) != Some("ack") {
                    self.ack_read(&map)?;
                    return Ok(None);
                }
                if expecting.is_none() {
                    self.pending.push_back(map);
                    return Ok(None);
                }
                Ok(Some(map))
            }
        }
    }

    pub(super) async fn next_control(
        &mut self,
        expecting: Option<&Value>,
    ) -> Result<Map<String, Value>, String> {
        let expecting = expecting.cloned().unwrap_or(Value::from("*"));
        if let Some(map) = self.pending.pop_front() {
            return Ok(map);
        }
        loop {
            if let Some(map) = self.read_one(Some(&expecting)).await? {
                return Ok(map);
            }
        }
    }

    /// Whether `got` has every member of `want`; on success, notes what it does to the
    /// transfer (an accept starts it, done/reject/cancel end it).
    pub(super) fn matches(
        &mut self,
        want: &Map<String, Value>,
        got: &Map<String, Value>,
    ) -> Result<(), String> {
        self.bind_offer(want, got);
        self.check(want, got).map_err(|e| {
            format!(
                "expected {}, got {}: {e}",
                Value::Object(want.clone()),
                Value::Object(got.clone())
            )
        })?;
        let Some(name) = got
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| self.name_of(id))
        else {
            return Ok(());
        };
        match got.get("ft").and_then(Value::as_str) {
            Some("accept") => {
                self.track(&name)?.accepted(got)?;
                let track = &self.tracks[&name];
                (self.vars.window, self.vars.max_chunk) = (track.window, track.max_chunk);
            }
            Some("ack") => self.ack_read(got)?,
            Some("done") => {
                let track = self.track(&name)?;
                track.ended = true;
                track.done_read = true;
            }
            Some("cancel") => self.track(&name)?.ended = true,
            // A reject answers an offer; an accepted transfer under that id goes on (§4.2).
            Some("reject") => {
                let track = self.track(&name)?;
                track.ended |= !track.accepted;
            }
            _ => {}
        }
        Ok(())
    }

    /// Sender cases: an offer named `NAME.bin` gives transfer NAME the id the testee chose.
    pub(super) fn bind_offer(&mut self, want: &Map<String, Value>, got: &Map<String, Value>) {
        if want.get("ft").and_then(Value::as_str) != Some("offer") || self.case.role != Role::Sender
        {
            return;
        }
        let name = got
            .get("name")
            .and_then(Value::as_str)
            .and_then(|n| n.strip_suffix(".bin"));
        let id = got
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse::<TransferId>().ok());
        if let (Some(name), Some(id)) = (name, id) {
            if self.tracks.contains_key(name) && !self.vars.ids.contains_key(name) {
                self.vars.ids.insert(name.to_owned(), id);
            }
        }
    }

    pub(super) fn check(
        &self,
        want: &Map<String, Value>,
        got: &Map<String, Value>,
    ) -> Result<(), String> {
        for (key, template) in want {
            let actual = got.get(key).ok_or_else(|| format!("no member {key:?}"))?;
            let ok = match template {
                Value::String(s) if s == "*" => true,
                Value::Object(o) if o.contains_key("one_of") => {
                    let options = o["one_of"].as_array().ok_or("one_of takes a list")?;
                    let mut any = false;
                    for option in options {
                        any |= self.vars.value(option)? == *actual;
                    }
                    any
                }
                other => self.vars.value(other)? == *actual,
            };
            if !ok {
                return Err(format!("{key} differs"));
            }
        }
        Ok(())
    }

    pub(super) async fn expect_any_order(
        &mut self,
        wants: &[Map<String, Value>],
    ) -> Result<(), String> {
        let mut left: Vec<&Map<String, Value>> = wants.iter().collect();
        let ack_expected = wants
            .iter()
            .any(|w| w.get("ft").and_then(Value::as_str) == Some("ack"));
        let expecting = Value::from(if ack_expected { "ack" } else { "*" });
        while !left.is_empty() {
            let got = self.next_control(Some(&expecting)).await?;
            let at = left.iter().position(|want| self.check_unbound(want, &got));
            match at {
                Some(at) => {
                    let want = left.remove(at);
                    self.matches(want, &got)?;
                }
                None => {
                    return Err(format!(
                        "{} matches none of {}",
                        Value::Object(got),
                        serde_json::to_string(&left).unwrap_or_default()
                    ))
                }
            }
        }
        Ok(())
    }

    /// `check`, treating an offer's not-yet-bound id as matching.
    pub(super) fn check_unbound(
        &self,
        want: &Map<String, Value>,
        got: &Map<String, Value>,
    ) -> bool {
        if want.get("ft").and_then(Value::as_str) == Some("offer") {
            let mut want = want.clone();
            want.remove("id");
            return self.check(&want, got).is_ok();
        }
        self.check(want, got).is_ok()
    }

    /// The chat's download link (docs/file-transfer.md, Appendix): after the `done` of an
    /// upload, one application message `{"type":"file","transfer":ID,"id":FILE,"path":"/files/FILE"}`.
    pub(super) async fn download_links(&mut self) -> Result<(), String> {
        let done: Vec<String> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.done_read)
            .map(|(name, _)| self.vars.ids[name].to_string())
            .collect();
        for transfer in done {
            loop {
                let link = self.peer.app_texts.iter().find_map(|text| {
                    let value: Value = serde_json::from_str(text).ok()?;
                    (value["type"] == "file" && value["transfer"] == transfer.as_str())
                        .then_some(value)
                });
                if let Some(link) = link {
                    let file = link["id"].as_str().unwrap_or_default();
                    let well_formed = file.len() == 32
                        && file.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                        && link["path"] == format!("/files/{file}").as_str();
                    if !well_formed {
                        return Err(format!("a malformed download link: {link}"));
                    }
                    break;
                }
                let read = self.read_one(Some(&Value::from("*"))).await;
                let read = read.map_err(|e| format!("no download link for {transfer}: {e}"))?;
                if let Some(map) = read {
                    return Err(format!(
                        "waiting for the download link of {transfer}, got {}",
                        Value::Object(map)
                    ));
                }
            }
        }
        Ok(())
    }

    /// The probe of docs/file-transfer-conformance.md: whatever the testee sends before the
    /// probe's answer breaks a rule that asked for silence.
    pub(super) async fn silent(&mut self) -> Result<(), String> {
        let probe = TransferId::random();
        if let Some(map) = self.pending.pop_front() {
            return Err(format!(
                "an answer where the spec asks for none: {}",
                Value::Object(map)
            ));
        }
        self.peer
            .text(format!(r#"{{"ft":"offer","id":"{probe}"}}"#))
            .await?;
        let got = self.next_control(Some(&Value::from("reject"))).await?;
        let want =
            serde_json::json!({"ft": "reject", "id": probe.to_string(), "reason": "bad_offer"});
        if got.get("ft") == want.get("ft")
            && got.get("id") == want.get("id")
            && got.get("reason") == want.get("reason")
        {
            return Ok(());
        }
        Err(format!(
            "an answer where the spec asks for none (or a wrong answer to the probe): {}",
            Value::Object(got)
        ))
    }
}
