// Package channel delivers one campaign message over one channel: a
// Standard Webhooks 1.0 webhook, an email over SMTP, or a Web Push
// notification (VAPID, RFC 8291 aes128gcm, RFC 8292). It is the last
// step of a campaign send (SPEC §6, issue 15 items 5–7): the scheduler
// decides who gets what and when, renders the variant's copy with
// Render, and hands a Message to a Sender; the Sender makes exactly one
// attempt and says in its Outcome what happened and what to do next.
//
// # Exactly once
//
// Message.Key is the idempotency key of a message (campaign, person,
// trigger event uuid, variant; see NewKey). The scheduler computes it
// once, stores it with the pending send and passes the same key on every
// attempt, including re-deliveries after a crash. Every channel carries
// it to the receiver so that the receiver can drop duplicates:
//
//   - webhook: the webhook-id header is the key itself;
//   - email: the Message-ID is <key@domain>;
//   - Web Push: the Topic header is TopicOf(key) (a push service keeps
//     only the newest undelivered message of a topic) and the payload's
//     "key" field is the key, which the service worker uses as the
//     notification tag (a second notification with the same tag
//     replaces the first instead of showing twice).
//
// A Sender never retries by itself and keeps no state between calls:
// retries are the scheduler's, which keeps them durable. Outcome.Retry
// says whether to try again; NextDelay combines the Standard Webhooks
// retry schedule (RetryDelay) with a receiver's Retry-After.
//
// # Outcomes
//
//	Delivered  the receiver accepted the message (2xx, SMTP 250).
//	Retry      a transient failure (timeout, connection error, 5xx,
//	           408, 425, 429, SMTP 4xx): try again later, with the same key.
//	SlowDown   with Retry: the receiver is overloaded (429, 502, 504):
//	           throttle the endpoint, not just this message.
//	Permanent  retrying cannot help (other 4xx, 3xx since redirects are
//	           never followed, SMTP 5xx, a refused address, a bad
//	           message): record the failure, do not retry.
//	Disable    with Permanent: the endpoint itself is gone (webhook 410,
//	           push 404/410, SMTP 5.1.x bad mailbox): stop sending to it
//	           in every campaign.
//
// # SSRF
//
// Webhook URLs and push endpoints come from users and browsers, so the
// HTTP client of NewHTTPClient checks the address it connects to, after
// DNS resolution, in the dialer's Control function: private, loopback,
// link-local, multicast, unspecified, CGNAT and other special-purpose
// addresses are refused (IPv4, IPv6 and IPv4 embedded in IPv6), unless
// ClientOptions.AllowPrivate is set (the server's --webhook-allow-private
// or JOURNEY_WEBHOOK_ALLOW_PRIVATE=1). Redirects are never followed,
// proxies from the environment are not used, and only http and https
// URLs are accepted.
package channel
