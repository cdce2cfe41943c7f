'use strict';
// What the ws testees share: loading ws with one clear line when `npm ci` has not been run, and
// echoing a message as it came (text as text, binary as binary).

function loadWs() {
  try {
    return require('ws');
  } catch (err) {
    console.error(`ws is not installed in ${__dirname}/node_modules (${err.code}): run \`make node-deps\``);
    process.exit(2);
  }
}

// A connection that breaks the protocol makes ws emit 'error' (then 'close'); without a listener
// node would end the whole process, so errors are only noted by ws closing the connection.
function echo(ws) {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

module.exports = { loadWs, echo };
