//! The receiving side's commands: the application's decision on an offer, the bytes the
//! driver confirmed, the SHA-256 comparison and `done` (docs/file-transfer.md §5, "Receiver"),
//! and the offer checks of §7.

use crate::{check_offer, sanitize_name, Control, Reason, TransferId};

use super::incoming::Incoming;
use super::{CommandError, Connection, Direction, End, Event, OfferInfo};

impl Connection {
    /// Accepts an offered file from `offset` (the bytes the driver already holds from an
    /// earlier connection, §6; 0 otherwise): queues `accept` with the configured window.
    /// With `offset` equal to the size, compare the SHA-256 at once ([`Connection::verify`]).
    ///
    /// # Errors
    /// [`CommandError::NotRunning`] (the peer cancelled meanwhile: see its
    /// [`Event::Ended`]), [`CommandError::WrongPhase`] when accepted already or `offset` is
    /// past the size.
    pub fn accept(&mut self, id: TransferId, offset: u64) -> Result<(), CommandError> {
        let (window, max_chunk) = (self.config.window, self.config.max_chunk);
        let transfer = self
            .incoming
            .get_mut(&id)
            .ok_or(CommandError::NotRunning(id))?;
        if !transfer.accept(offset, window, max_chunk) {
            return Err(CommandError::WrongPhase(id));
        }
        self.send(Control::Accept {
            id,
            offset,
            window,
            max_chunk,
        });
        Ok(())
    }

    /// Declines an offered file: queues `reject`; the id is forgotten, not used up (§4.2).
    ///
    /// # Errors
    /// [`CommandError::NotRunning`], [`CommandError::WrongPhase`] once accepted (an accepted
    /// transfer ends with [`Connection::cancel`]).
    pub fn reject(
        &mut self,
        id: TransferId,
        reason: Reason,
        message: impl Into<String>,
    ) -> Result<(), CommandError> {
        let transfer = self.incoming.get(&id).ok_or(CommandError::NotRunning(id))?;
        if !transfer.is_offered() {
            return Err(CommandError::WrongPhase(id));
        }
        self.incoming.remove(&id);
        let message = message.into();
        self.send(Control::Reject {
            id,
            reason,
            message: message.clone(),
        });
        self.events.push_back(Event::Ended {
            id,
            direction: Direction::Receive,
            end: End::Rejected { reason, message },
        });
        Ok(())
    }

    /// Every byte of an incoming transfer below `offset` is written and hashed: queues the
    /// acks §5 asks for.
    ///
    /// # Errors
    /// [`CommandError::NotRunning`], [`CommandError::WrongPhase`] before `accept` or for an
    /// offset past the chunks handed over or below an earlier one.
    pub fn confirmed(&mut self, id: TransferId, offset: u64) -> Result<(), CommandError> {
        let transfer = self
            .incoming
            .get_mut(&id)
            .ok_or(CommandError::NotRunning(id))?;
        let acks = transfer
            .confirmed(offset)
            .ok_or(CommandError::WrongPhase(id))?;
        for offset in acks {
            self.send(Control::Ack { id, offset });
        }
        Ok(())
    }

    /// Compares the SHA-256 of every byte of an incoming transfer with its offer's. `true`:
    /// put the file in place, then [`Connection::complete`]. `false`: `cancel` with
    /// `checksum_mismatch` is queued and the transfer ended.
    ///
    /// # Errors
    /// [`CommandError::NotRunning`], [`CommandError::WrongPhase`] before every byte is
    /// [confirmed](Connection::confirmed).
    pub fn verify(&mut self, id: TransferId, digest: [u8; 32]) -> Result<bool, CommandError> {
        let transfer = self
            .incoming
            .get_mut(&id)
            .ok_or(CommandError::NotRunning(id))?;
        if !transfer.is_complete() {
            return Err(CommandError::WrongPhase(id));
        }
        if digest == transfer.sha256 {
            transfer.verified();
            return Ok(true);
        }
        let message = format!(
            "SHA-256 of the received bytes is {}, the offer said {}",
            hex::encode(digest),
            hex::encode(transfer.sha256)
        );
        self.cancel(id, Reason::ChecksumMismatch, message);
        Ok(false)
    }

    /// The verified file is in place: queues `done`; the transfer ends.
    ///
    /// # Errors
    /// [`CommandError::NotRunning`], [`CommandError::WrongPhase`] before
    /// [`Connection::verify`] said `true`.
    pub fn complete(&mut self, id: TransferId) -> Result<(), CommandError> {
        let transfer = self.incoming.get(&id).ok_or(CommandError::NotRunning(id))?;
        if !transfer.is_verified() {
            return Err(CommandError::WrongPhase(id));
        }
        let sha256 = hex::encode(transfer.sha256);
        self.send(Control::Done { id, sha256 });
        self.end_incoming(id, End::Done);
        Ok(())
    }

    pub(super) fn handle_offer(
        &mut self,
        id: TransferId,
        offered_name: String,
        size: u64,
        media_type: String,
        sha256: &str,
    ) {
        // §7's order: bad_offer, too_large, bad_name, duplicate_id, busy.
        let checked = check_offer(size, sha256, self.config.max_file_size)
            .and_then(|digest| {
                let name = sanitize_name(&offered_name)
                    .map_err(|why| (Reason::BadName, why.to_owned()))?;
                Ok((digest, name))
            })
            .and_then(|checked| {
                if self.incoming.contains_key(&id) || self.outgoing.contains_key(&id) {
                    return Err((
                        Reason::DuplicateId,
                        "the id is in use on this connection".to_owned(),
                    ));
                }
                if self.used.contains(id) {
                    return Err((
                        Reason::DuplicateId,
                        "a transfer with this id already ended on this connection; offer \
                         under a new id"
                            .to_owned(),
                    ));
                }
                let running = self.incoming.len();
                if running >= self.config.max_incoming.max(1) {
                    return Err((
                        Reason::Busy,
                        format!("{running} incoming transfers are waiting or running already"),
                    ));
                }
                Ok(checked)
            });
        match checked {
            Ok((sha256, name)) => {
                self.incoming.insert(id, Incoming::offered(size, sha256));
                self.events.push_back(Event::Offered(OfferInfo {
                    id,
                    offered_name,
                    name,
                    size,
                    media_type,
                    sha256,
                }));
            }
            Err((reason, message)) => self.send(Control::Reject {
                id,
                reason,
                message,
            }),
        }
    }
}
