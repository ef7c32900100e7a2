-- 0013_reply_state_catch_up: auto-reply records take their message's state once.
-- Append-only: a shipped migration is never edited; later changes go into a new file.

-- Before this release two tasks copied the queue's state into the auto-responder's reply
-- records every 2 s; from now on the queue writes it in the transaction of each change. A
-- record left behind at the upgrade (the queue sent the reply, postbote stopped before the
-- next copy) would never change again, and its sender would count as waiting for a reply:
-- bring every record up to its message's state once. (Phones' submissions are brought up to
-- date at the daemon's start, where the change can be logged for them.)
UPDATE autoreply_reply SET
  state = (SELECT o.status FROM outbox_message o WHERE o.id = autoreply_reply.outbox_id),
  sent_at = COALESCE(sent_at, (SELECT o.sent_at FROM outbox_message o
                               WHERE o.id = autoreply_reply.outbox_id AND o.status = 'sent'))
WHERE EXISTS (SELECT 1 FROM outbox_message o
              WHERE o.id = autoreply_reply.outbox_id AND o.status IS NOT autoreply_reply.state);
