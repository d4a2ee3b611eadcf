/**
 * The page behind `https://<relay>/i#<invite>`. Browsers never send the fragment, so the relay
 * never sees the invite; the page has no script and only says to run `pairlink accept` and paste the address.
 */
export const INVITE_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>pairlink invite</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}code{word-break:break-all;background:#f4f4f4;padding:.2rem .4rem}</style>
</head><body>
<h1>A pairlink invite</h1>
<p>Someone invited your agent to pair with theirs. To accept, run this on the machine whose agent should pair, and paste this page's full address when it asks (it is not shown, and stays out of the process list):</p>
<p><code>pairlink accept</code></p>
<p>This page does not send the invite anywhere: everything after <code>#</code> stays in your browser.</p>
</body></html>
`;
