'use strict';
// A ws echo server on loopback, the real library as a testee of the matrix.
//   node testees/peers/node/server.js [--port 0] [--no-compression]
// Prints `listening on ws://127.0.0.1:PORT/` once it accepts connections (see testees/peers/spawn.py).
// permessage-deflate is on unless --no-compression; every other option is ws's default.

const { loadWs, echo } = require('./common');

function parseArgs(argv) {
  const args = { port: 0, compression: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--no-compression') {
      args.compression = false;
    } else if (argv[i] === '--port' && /^\d+$/.test(argv[i + 1] || '')) {
      args.port = Number(argv[++i]);
    } else {
      console.error(`usage: node server.js [--port N] [--no-compression] (bad argument: ${argv[i]})`);
      process.exit(2);
    }
  }
  return args;
}

const { WebSocketServer } = loadWs();
const args = parseArgs(process.argv.slice(2));
const server = new WebSocketServer({ host: '127.0.0.1', port: args.port, perMessageDeflate: args.compression });
server.on('connection', echo);
server.on('listening', () => console.log(`listening on ws://127.0.0.1:${server.address().port}/`));
server.on('error', (err) => {
  console.error(`ws server: ${err.message}`);
  process.exit(3);
});
