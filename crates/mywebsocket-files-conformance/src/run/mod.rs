//! Runs one case: its steps against a connection (or several, across `reconnect`).

use std::collections::{BTreeMap, VecDeque};

use mywebsocket_files::{chunk_buffer, TransferId};
use mywebsocket_files_conformance::content;
use serde_json::{Map, Value};

use crate::cases::{Case, Role, Step};
use crate::peer::{Incoming, Peer};
use crate::source::Source;
use crate::template::Vars;
use crate::track::Track;

mod expect;

/// The largest chunk the runner sends by default: it divides `q` of every window from 256 KiB.
const STREAM_CHUNK: u64 = 64 << 10;

/// The state of one case being run.
pub(crate) struct Run<'c> {
    case: &'c Case,
    vars: Vars,
    tracks: BTreeMap<String, Track>,
    peer: Peer,
    connection: u32,
    /// Control messages read while streaming that a later `expect` takes.
    pending: VecDeque<Map<String, Value>>,
}

/// Runs `case`; `Err` says what differed from the spec, with the transcript. With
/// `download_link`, every `done` must be followed by the chat's download-link message.
pub(crate) async fn run_case(
    case: &Case,
    source: &mut Source,
    download_link: bool,
) -> Result<(), String> {
    let mut vars = Vars {
        max_file_size: source.defaults().max_file_size,
        max_concurrent: source.defaults().max_concurrent,
        ..Vars::default()
    };
    let mut tracks = BTreeMap::new();
    for (name, &size) in &case.transfers {
        vars.sizes.insert(name.clone(), size);
        if case.role == Role::Receiver {
            vars.ids.insert(name.clone(), TransferId::random());
        }
        tracks.insert(
            name.clone(),
            Track {
                size,
                ..Track::default()
            },
        );
    }
    let peer = source.open(case, 1).await?;
    let mut run = Run {
        case,
        vars,
        tracks,
        peer,
        connection: 1,
        pending: VecDeque::new(),
    };
    let mut outcome = Ok(());
    for (n, step) in case.steps.iter().enumerate() {
        if let Err(e) = run.step(step, source).await {
            outcome = Err(format!("step {} ({}): {e}", n + 1, step_name(step)));
            break;
        }
    }
    if outcome.is_ok() && download_link {
        outcome = run
            .download_links()
            .await
            .map_err(|e| format!("after the steps: {e}"));
    }
    match outcome {
        Ok(()) => {
            run.peer.close().await;
            Ok(())
        }
        Err(e) => {
            let transcript = run.peer.transcript.clone();
            run.peer.close().await;
            let tail = transcript.len().saturating_sub(12);
            Err(format!(
                "{e}\n      last messages:\n        {}",
                transcript[tail..].join("\n        ")
            ))
        }
    }
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Text(_) => "text",
        Step::BinaryHex(_) => "binary_hex",
        Step::Offer { .. } => "offer",
        Step::Chunk { .. } => "chunk",
        Step::Stream { .. } => "stream",
        Step::Expect(_) => "expect",
        Step::ExpectAnyOrder(_) => "expect_any_order",
        Step::Silent => "silent",
        Step::Reconnect => "reconnect",
        Step::Receive { .. } => "receive",
        Step::CheckAcks { .. } => "check_acks",
    }
}

impl Run<'_> {
    fn track(&mut self, name: &str) -> Result<&mut Track, String> {
        self.tracks
            .get_mut(name)
            .ok_or_else(|| format!("the case declares no transfer {name:?}"))
    }

    fn name_of(&self, id: &str) -> Option<String> {
        self.vars
            .ids
            .iter()
            .find(|(_, known)| known.to_string() == id)
            .map(|(name, _)| name.clone())
    }

    async fn step(&mut self, step: &Step, source: &mut Source) -> Result<(), String> {
        match step {
            Step::Text(template) => {
                let text = self.vars.expand(template)?;
                self.sent_control(&text)?;
                self.peer.text(text).await
            }
            Step::BinaryHex(template) => {
                let hex_text = self.vars.expand(template)?;
                let data = hex::decode(&hex_text).map_err(|e| format!("{hex_text}: {e}"))?;
                self.peer
                    .binary(data.into(), format!("binary {hex_text}"))
                    .await
            }
            Step::Offer { transfer, with } => {
                let text = self.offer_text(transfer, with)?;
                self.peer.text(text).await
            }
            Step::Chunk {
                transfer,
                offset,
                len,
                cut,
            } => {
                let offset = self.vars.number(offset)?;
                let len = self.vars.number(len)?;
                let cut = cut.as_ref().map(|c| self.vars.number(c)).transpose()?;
                self.send_chunk(transfer, offset, len, cut).await
            }
            Step::Stream {
                transfers,
                to,
                chunk,
                until_acked,
            } => {
                self.stream(transfers, to.as_ref(), chunk.as_ref(), *until_acked)
                    .await
            }
            Step::Expect(want) => {
                let got = self.next_control(want.get("ft")).await?;
                self.matches(want, &got)
            }
            Step::ExpectAnyOrder(wants) => self.expect_any_order(wants).await,
            Step::Silent => self.silent().await,
            Step::Reconnect => {
                self.connection += 1;
                // Dropped without a closing handshake: to the testee, a lost connection.
                self.peer.cut();
                let transcript = std::mem::take(&mut self.peer.transcript);
                self.peer = source.open(self.case, self.connection).await?;
                self.peer.transcript = transcript;
                self.peer
                    .transcript
                    .push(format!("-- reconnected (connection {})", self.connection));
                for track in self.tracks.values_mut() {
                    track.accepted = false;
                    track.ended = false;
                    track.ended_by_runner = false;
                }
                self.pending.clear();
                Ok(())
            }
            Step::Receive { transfer, to, ack } => self.receive(transfer, to.as_ref(), *ack).await,
            Step::CheckAcks { transfer } => self.track(transfer)?.check_ack_spacing(),
        }
    }

    /// Notes what a control message the runner sends does to its own view of the transfer.
    fn sent_control(&mut self, text: &str) -> Result<(), String> {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
            return Ok(());
        };
        let Some(name) = map
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| self.name_of(id))
        else {
            return Ok(());
        };
        match map.get("ft").and_then(Value::as_str) {
            Some("accept") => {
                let track = self.track(&name)?;
                if track.accepted || track.accepted(&map).is_err() {
                    return Ok(()); // a second or malformed accept: the case checks the answer
                }
                let (window, max_chunk) = (track.window, track.max_chunk);
                (self.vars.window, self.vars.max_chunk) = (window, max_chunk);
            }
            Some("ack") => {
                if let Some(offset) = map.get("offset").and_then(Value::as_u64) {
                    let track = self.track(&name)?;
                    track.acked = track.acked.max(offset);
                }
            }
            Some("cancel" | "done") => self.track(&name)?.ended_by_runner = true,
            _ => {}
        }
        Ok(())
    }

    /// A well-formed offer for `transfer`, members in the spec's order, then `with` applied.
    fn offer_text(&mut self, transfer: &str, with: &Map<String, Value>) -> Result<String, String> {
        let size = self.track(transfer)?.size;
        let mut members: Vec<(String, Value)> = vec![
            ("ft".into(), Value::from("offer")),
            ("id".into(), self.vars.eval(&format!("id:{transfer}"))?),
            ("name".into(), Value::from(format!("{transfer}.bin"))),
            ("size".into(), Value::from(size)),
            ("type".into(), Value::from("application/octet-stream")),
            ("sha256".into(), Value::from(content::sha256_hex(size))),
        ];
        for (key, template) in with {
            let value = self.vars.value(template)?;
            let at = members.iter().position(|(k, _)| k == key);
            match (at, value) {
                (Some(at), Value::Null) => {
                    members.remove(at);
                }
                (Some(at), value) => members[at].1 = value,
                (None, Value::Null) => {}
                (None, value) => members.push((key.clone(), value)),
            }
        }
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), v))
            .collect();
        Ok(format!("{{{}}}", body.join(",")))
    }

    async fn send_chunk(
        &mut self,
        transfer: &str,
        offset: u64,
        len: u64,
        cut: Option<u64>,
    ) -> Result<(), String> {
        let id = self.vars.ids.get(transfer).copied().ok_or("no id")?;
        let data = content::bytes(offset, len);
        let mut message = chunk_buffer(id, offset, data.len());
        message.extend_from_slice(&data);
        if let Some(cut) = cut {
            message.truncate(usize::try_from(cut).map_err(|e| e.to_string())?);
        }
        let track = self.track(transfer)?;
        if cut.is_none() && offset == track.next {
            track.next += len;
            track.sent_chunk = track.sent_chunk.max(len);
        }
        let what = format!(
            "chunk {transfer} offset {offset} data {len} bytes{}",
            cut.map(|c| format!(", cut to {c} bytes"))
                .unwrap_or_default()
        );
        self.peer.binary(message.freeze(), what).await
    }

    /// §5's sender, round-robin over `transfers`.
    async fn stream(
        &mut self,
        transfers: &[String],
        to: Option<&Value>,
        chunk: Option<&Value>,
        until_acked: bool,
    ) -> Result<(), String> {
        let cap = chunk
            .map(|c| self.vars.number(c))
            .transpose()?
            .unwrap_or(STREAM_CHUNK);
        let to = to.map(|t| self.vars.number(t)).transpose()?;
        loop {
            let mut sent_any = false;
            let mut all_sent = true;
            for name in transfers {
                let track = self.track(name)?;
                if !track.accepted {
                    return Err(format!("{name} was not accepted"));
                }
                let target = to.unwrap_or(track.size).min(track.size);
                if track.next >= target {
                    continue;
                }
                all_sent = false;
                let room = track.window - (track.next - track.acked);
                let len = cap.min(track.max_chunk).min(target - track.next).min(room);
                if len > 0 {
                    let offset = track.next;
                    self.send_chunk(name, offset, len, None).await?;
                    sent_any = true;
                }
            }
            let unacked = transfers
                .iter()
                .any(|n| self.tracks.get(n).is_some_and(|t| t.acked < t.next));
            if all_sent && !(until_acked && unacked) {
                return Ok(());
            }
            if !sent_any {
                // The window is full (or everything is sent): an ack must come (§5).
                self.read_one(None).await?;
            }
        }
    }

    /// §3/§5's receiver, for the runner playing it against a sender under test.
    async fn receive(
        &mut self,
        transfer: &str,
        to: Option<&Value>,
        ack: bool,
    ) -> Result<(), String> {
        let target = match to {
            Some(t) => self.vars.number(t)?,
            None => self.track(transfer)?.size,
        };
        while self.track(transfer)?.next < target {
            match self.peer.next().await? {
                Incoming::App => {}
                Incoming::Chunk(chunk) => {
                    self.chunk_read(&chunk)?;
                    if ack {
                        let offset = self.track(transfer)?.next;
                        let text = format!(
                            r#"{{"ft":"ack","id":"{}","offset":{offset}}}"#,
                            self.vars.ids[transfer]
                        );
                        self.sent_control(&text)?;
                        self.peer.text(text).await?;
                    }
                }
                Incoming::Control(map) => {
                    return Err(format!("expected chunks, got {}", Value::Object(map)))
                }
            }
        }
        Ok(())
    }
}
