/** The SDP both benchmark answerers put in their 200 OK (no media flows: signalling only). */
export const BENCH_ANSWER_SDP = [
  'v=0',
  'o=bench 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 9 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  'a=sendrecv',
  '',
].join('\r\n');
