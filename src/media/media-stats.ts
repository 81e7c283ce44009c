/**
 * RTP counters of a live FreeSWITCH channel: how many packets it received from and sent to its
 * far end. FreeSWITCH fills the rtp_audio_* variables only at hang-up unless asked with
 * uuid_set_media_stats, which this does first.
 */
export interface RtpCounters {
  inPackets: number;
  outPackets: number;
  inBytes: number;
  outBytes: number;
}

/** `api` runs one FreeSWITCH API command and returns its text (MediaServer.api or an ESL client). */
export async function rtpCounters(api: (command: string) => Promise<string>, uuid: string): Promise<RtpCounters | null> {
  const set = await api(`uuid_set_media_stats ${uuid}`);
  if (!set.startsWith('+OK')) return null;
  const read = async (name: string) => {
    const v = (await api(`uuid_getvar ${uuid} ${name}`)).trim();
    const n = Number(v);
    return Number.isFinite(n) ? n : 0;
  };
  return {
    inPackets: await read('rtp_audio_in_packet_count'),
    outPackets: await read('rtp_audio_out_packet_count'),
    inBytes: await read('rtp_audio_in_raw_bytes'),
    outBytes: await read('rtp_audio_out_raw_bytes'),
  };
}
