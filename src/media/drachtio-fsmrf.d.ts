/**
 * Types for the part of drachtio-fsmrf@4 (a CommonJS package without its own types) that the
 * media adapter uses. Only what src/media calls is declared; everything else stays untyped on
 * purpose so a misuse shows up at compile time.
 */
declare module 'drachtio-fsmrf' {
  import type { EventEmitter } from 'node:events';
  import type Srf from 'drachtio-srf';

  namespace Mrf {
    interface ConnectOptions {
      /** FreeSWITCH event socket address. */
      address: string;
      port?: number;
      secret?: string;
      /** Where this process listens for FreeSWITCH's outbound event socket connections. */
      listenAddress?: string;
      listenPort?: number;
      /** The address:port put into X-esl-outbound, when FreeSWITCH must use another one. */
      advertisedAddress?: string;
      advertisedPort?: number;
      /** Sofia profile name to look for in "sofia status" (default drachtio_mrf). */
      profile?: string;
    }

    /** One event or API answer from the event socket. */
    interface EslEvent {
      getHeader(name: string): string | undefined;
      getBody(): string;
    }

    interface EndpointOptions {
      /** The far end's SDP; without it FreeSWITCH makes the offer (3pcc). */
      remoteSdp?: string;
      codecs?: string | string[];
      headers?: Record<string, string>;
      dtls?: boolean;
      family?: 'ipv4' | 'ipv6';
    }

    interface NetworkConnection {
      sdp: string;
      mediaIp?: string;
      mediaPort?: string;
    }

    /** A FreeSWITCH channel controlled over its own outbound event socket connection. */
    class Endpoint extends EventEmitter {
      readonly uuid: string;
      readonly secure: boolean;
      readonly connected: boolean;
      local: NetworkConnection;
      remote: NetworkConnection;
      dialog: Srf.Dialog;
      play(file: string | string[]): Promise<{ playbackSeconds?: string; playbackMilliseconds?: string }>;
      /** uuid_bridge with another endpoint (or channel uuid). */
      bridge(other: Endpoint | string): Promise<void>;
      /** Parks both sides of the bridge (uuid_transfer -both park inline). */
      unbridge(): Promise<void>;
      /** Re-INVITEs FreeSWITCH with new far-end SDP; resolves with FreeSWITCH's answer. */
      modify(sdp: string): Promise<string>;
      /** Hangs the channel up and waits for its BYE. */
      destroy(): Promise<void>;
      api(command: string, args?: string | string[]): Promise<EslEvent>;
      execute(app: string, arg?: string): Promise<EslEvent>;
      getChannelVariables(includeMedia?: boolean): Promise<Record<string, string>>;
      on(event: 'destroy', listener: (info?: { reason?: string }) => void): this;
      on(event: string, listener: (...args: any[]) => void): this;
      once(event: 'destroy', listener: (info?: { reason?: string }) => void): this;
      once(event: string, listener: (...args: any[]) => void): this;
    }

    class MediaServer extends EventEmitter {
      readonly address: string;
      readonly srf: Srf;
      readonly sip: { ipv4: { udp: { address?: string }; dtls: { address?: string } } };
      currentSessions: number;
      maxSessions: number;
      connected(): boolean;
      disconnect(): void;
      api(command: string): Promise<string>;
      createEndpoint(opts?: EndpointOptions): Promise<Endpoint>;
      /** Answers an incoming INVITE with FreeSWITCH's SDP: the caller's leg is anchored. */
      connectCaller(req: Srf.SrfRequest, res: Srf.SrfResponse, opts?: EndpointOptions): Promise<{ endpoint: Endpoint; dialog: Srf.Dialog }>;
      on(event: 'end' | 'ready' | 'connect', listener: () => void): this;
      on(event: 'error', listener: (err: Error) => void): this;
      on(event: string, listener: (...args: any[]) => void): this;
    }
  }

  class Mrf extends EventEmitter {
    constructor(srf: Srf, opts?: { customEvents?: string[] });
    connect(opts: Mrf.ConnectOptions): Promise<Mrf.MediaServer>;
    static utils: { parseBodyText(text: string): Record<string, string> };
  }

  export = Mrf;
}
