'use strict';
// An Autobahn-style testee client built on ws: it runs every case the server offers.
//   node testees/peers/node/client.js URL AGENT [--no-compression]
// Asks URL/getCaseCount, echoes every message of URL/runCase?case=N&agent=AGENT until the server
// closes, then URL/updateReports?agent=AGENT. permessage-deflate is offered unless
// --no-compression; every other option is ws's default but the 5 s handshake bound, which the
// Python testee clients have too.

const { loadWs, echo } = require('./common');

const WebSocket = loadWs();

// Resolves once the connection is closed, whatever happened (ws emits 'close' after any 'error').
function session(url, options, onOpen) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout: 5000, ...options });
    ws.on('error', () => {});
    ws.on('close', resolve);
    onOpen(ws);
  });
}

async function caseCount(base) {
  let count = 0;
  await session(`${base}/getCaseCount`, {}, (ws) => {
    ws.on('message', (data) => {
      count = Number(data.toString());
      ws.close();
    });
  });
  return count;
}

async function main(argv) {
  if (argv.length < 2 || argv.slice(2).some((a) => a !== '--no-compression')) {
    console.error('usage: node client.js URL AGENT [--no-compression]');
    process.exit(2);
  }
  const [base, agent] = argv;
  const perMessageDeflate = !argv.includes('--no-compression');
  const count = await caseCount(base);
  for (let n = 1; n <= count; n++) {
    await session(`${base}/runCase?case=${n}&agent=${encodeURIComponent(agent)}`, { perMessageDeflate }, echo);
  }
  await session(`${base}/updateReports?agent=${encodeURIComponent(agent)}`, {}, () => {});
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`ws client: ${err.message}`);
  process.exit(2);
});
