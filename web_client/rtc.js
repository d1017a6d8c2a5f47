// The live connection: one camera track and one data channel to the server over WebRTC.
//
// aiortc does not trickle ICE, so the offer is sent only once gathering is complete. Messages on
// the channel are msgpack maps with `type` and protocol version `v` (server/stream/protocol.py).
// A dropped connection (ICE failed/disconnected, channel closed, no answer to pings) is retried
// with backoff, reusing the same camera stream; the server treats each connection as new, so
// the start message is sent again on every (re)connection.

import { bearerToken } from './auth.js';
import { decode, encode } from './msgpack.js';

export const PROTOCOL_VERSION = 1;
const GATHER_TIMEOUT_MS = 5000;
const PING_EVERY_MS = 2000;
const SILENCE_LIMIT_MS = 8000;
const DISCONNECT_GRACE_MS = 3000;
const BACKOFF_MS = [1000, 2000, 4000, 8000, 10000];
const MAX_ATTEMPTS = 8;

export class OfferError extends Error {
  constructor(status, code, detail) {
    super(detail || code);
    this.status = status;
    this.code = code;
  }
}

function waitForGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    // Some networks never finish gathering (an unreachable STUN server); send what we have.
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * Events (CustomEvent detail): 'state' {state, detail} with state in connecting | connected |
 * reconnecting | failed | closed; 'message' {message} for every server message.
 */
export class LiveConnection extends EventTarget {
  /** stream: the camera MediaStream. start: the start message body (exercise, units, ...). */
  constructor(stream, start) {
    super();
    this.stream = stream;
    this.start = start;
    this.pc = null;
    this.channel = null;
    this.closed = false;
    this.attempt = 0;
    this.state = 'idle';
    this.lastMessageAt = 0;
    this.pingTimer = null;
    this.retryTimer = null;
    this.graceTimer = null;
    this.rttMs = null;
    // {width, height} of the frames the encoder sends (it may scale the camera's down).
    this.sentSize = null;
    this.onOnline = () => {
      if (this.state === 'reconnecting') this.reconnectNow();
    };
    window.addEventListener('online', this.onOnline);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state, detail = '') {
    this.state = state;
    this.emit('state', { state, detail });
  }

  async connect() {
    this.setState(this.attempt ? 'reconnecting' : 'connecting');
    const pc = new RTCPeerConnection();
    this.pc = pc;
    const track = this.stream.getVideoTracks()[0];
    const sender = pc.addTrack(track, this.stream);
    const channel = pc.createDataChannel('liftstream', { ordered: true });
    channel.binaryType = 'arraybuffer';
    this.channel = channel;
    channel.addEventListener('open', () => {
      this.attempt = 0;
      this.lastMessageAt = performance.now();
      this.send({ type: 'start', ...this.start });
      this.setState('connected');
      this.startPinging();
    });
    channel.addEventListener('message', (e) => this.onChannelMessage(e.data));
    channel.addEventListener('close', () => {
      if (this.pc === pc) this.dropped('the data channel closed');
    });
    pc.addEventListener('connectionstatechange', () => this.onPeerState(pc));

    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    if (this.closed || this.pc !== pc) return;
    const token = await bearerToken();
    let response;
    try {
      response = await fetch('/api/v1/stream/offer', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
      });
    } catch {
      throw new OfferError(0, 'network', 'cannot reach the server');
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new OfferError(response.status, body.error, body.detail);
    if (this.closed || this.pc !== pc) return;
    await pc.setRemoteDescription({ type: body.type, sdp: body.sdp });
    // The analysis needs sharp frames more than a smooth rate: when the link or the CPU is short,
    // drop frames rather than resolution (the overlay rescales either way, see sentSize).
    const params = sender.getParameters();
    params.degradationPreference = 'maintain-resolution';
    sender.setParameters(params).catch(() => {});
  }

  /** Connect, retrying with backoff on failures the network can explain. */
  async open() {
    try {
      await this.connect();
    } catch (error) {
      if (error instanceof OfferError && error.status === 401) {
        this.setState('failed', 'The server refused the sign-in token. Sign in again.');
        window.dispatchEvent(new CustomEvent('liftstream:signedout', { detail: error.message }));
        return;
      }
      if (error instanceof OfferError && error.status === 400) {
        this.setState('failed', `The server refused the connection: ${error.message}`);
        return;
      }
      this.dropped(error.message || String(error));
    }
  }

  onPeerState(pc) {
    if (this.pc !== pc) return;
    const s = pc.connectionState;
    if (s === 'connected') {
      clearTimeout(this.graceTimer);
      this.graceTimer = null;
    } else if (s === 'failed') {
      this.dropped('the connection failed');
    } else if (s === 'disconnected' && !this.graceTimer) {
      // ICE often recovers from a short blip by itself; give it a moment first.
      this.graceTimer = setTimeout(() => {
        this.graceTimer = null;
        if (this.pc === pc && pc.connectionState !== 'connected') this.dropped('the network dropped');
      }, DISCONNECT_GRACE_MS);
    }
  }

  onChannelMessage(data) {
    this.lastMessageAt = performance.now();
    let message;
    try {
      message = decode(data);
    } catch (error) {
      console.warn('liftstream: undecodable message from the server', error);
      return;
    }
    if (!message || typeof message !== 'object' || message.v !== PROTOCOL_VERSION) return;
    if (message.type === 'pong' && typeof message.t === 'number') {
      this.rttMs = performance.now() - message.t;
    }
    this.emit('message', { message });
  }

  /** Read the sent frame size from the sender's stats (the overlay maps samples with it). */
  async readSentSize(pc) {
    const stats = await pc.getStats().catch(() => null);
    if (!stats || this.pc !== pc) return;
    stats.forEach((r) => {
      if (r.type === 'outbound-rtp' && r.kind === 'video' && r.frameWidth > 0 && r.frameHeight > 0) {
        this.sentSize = { width: r.frameWidth, height: r.frameHeight };
      }
    });
  }

  startPinging() {
    clearInterval(this.pingTimer);
    const pc = this.pc;
    this.readSentSize(pc);
    this.pingTimer = setInterval(() => {
      this.readSentSize(pc);
      if (performance.now() - this.lastMessageAt > SILENCE_LIMIT_MS) {
        this.dropped('the server stopped answering');
        return;
      }
      this.send({ type: 'ping', t: performance.now() });
    }, PING_EVERY_MS);
  }

  /** Send a control message; false when the channel is not open. */
  send(body) {
    if (!this.channel || this.channel.readyState !== 'open') return false;
    this.channel.send(encode({ ...body, v: PROTOCOL_VERSION }));
    return true;
  }

  /** The lifter is done: finalise what was recorded. */
  endLift() {
    return this.send({ type: 'end' });
  }

  teardown() {
    clearInterval(this.pingTimer);
    clearTimeout(this.graceTimer);
    this.graceTimer = null;
    const pc = this.pc;
    this.pc = null;
    this.channel = null;
    if (pc) {
      // Keep the camera track alive for the next attempt: stop only the sender's transport.
      for (const sender of pc.getSenders()) sender.replaceTrack(null).catch(() => {});
      pc.close();
    }
  }

  dropped(reason) {
    if (this.closed || this.retryTimer) return;
    this.teardown();
    if (this.attempt >= MAX_ATTEMPTS) {
      this.setState('failed', `Could not reconnect (${reason}).`);
      return;
    }
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.setState('reconnecting', `${reason}; retrying in ${Math.round(delay / 1000)} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
  }

  reconnectNow() {
    if (!this.retryTimer) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.open();
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    window.removeEventListener('online', this.onOnline);
    this.teardown();
    this.setState('closed');
  }
}
