// uWebSockets (C++, through uWebSockets.js) as a peer of `just bench`: a WebSocket echo server.
// The addon comes from @trufflesuite/uws-js-unofficial (uWebSockets.js v20.30.0 built for glibc
// 2.27 and later; @btc-vision/uwebsockets.js's Linux builds need glibc 2.38). That package falls
// back to a JavaScript implementation when its addon does not load; this script loads the addon
// itself and fails instead, so what it measures is always uWebSockets.
//
//   node echo.js [PORT] [--watch-stdin]
//
// Listens on 127.0.0.1:PORT (0, the default, picks a free port), prints `listening ADDR` once
// bound, and sends every text and binary message back to its sender, as uWebSockets' own
// EchoServer example does. Compression off, 64 MiB message limit, no idle timeout or pings,
// and a send buffer large enough that backpressure never closes a connection. With
// `--watch-stdin` it exits when its standard input closes, so it never outlives the `bench`
// process that started it.
'use strict';

const addon = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
const uWS = require(`@trufflesuite/uws-js-unofficial/binaries/${addon}`);

const args = process.argv.slice(2);
const watchStdin = args.includes('--watch-stdin');
const portArg = args.find((a) => !a.startsWith('--'));
const port = portArg === undefined ? 0 : Number(portArg);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`echo.js: bad port ${portArg}`);
  process.exit(2);
}

uWS.App()
  .ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: 64 * 1024 * 1024,
    maxBackpressure: 1024 * 1024 * 1024,
    closeOnBackpressureLimit: false,
    idleTimeout: 0,
    sendPingsAutomatically: false,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary);
    },
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) {
      console.error(`echo.js: cannot listen on 127.0.0.1:${port}`);
      process.exit(1);
    }
    console.log(`listening 127.0.0.1:${uWS.us_socket_local_port(token)}`);
  });

if (watchStdin) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
