/**
 * Sent with the WebSocket upgrade's answer: the operations beyond watch, unwatch and post that
 * this relay takes over the socket. A client creates and deletes mailboxes over the socket only
 * when it is there (a relay without it answers those ops `bad_request`), else over HTTP.
 */
export const WS_OPS_HEADER = 'x-pairlink-ws-ops';
export const WS_EXTRA_OPS = 'create delete';
