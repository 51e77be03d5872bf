/**
 * The part of dcmjs (0.51.x, no bundled types) this layer uses, typed once here so the
 * rest of lib/clinical never touches `any`.
 *
 * dcmjs keeps a dataset in two shapes: the "dict" form keyed by tag hex
 * ({ '00100010': { vr: 'PN', Value: [...] } }) that its reader and writer use, and the
 * "naturalized" form keyed by keyword ({ PatientName: ... }) that is convenient to read
 * and build. Sequences become arrays of naturalized objects; PixelData becomes an array
 * of ArrayBuffers (one per frame for encapsulated data, one in all for native data).
 */
import { P2SamError } from '../errors';
/* eslint-disable @typescript-eslint/no-require-imports */

export type NaturalDataset = Record<string, unknown>;
export type DictDataset = Record<string, { vr: string; Value?: unknown[] }>;

interface ReadBufferStreamCtor {
  new (buffer: ArrayBuffer, littleEndian?: boolean | null): { offset: number; end(): boolean };
}

export interface DcmjsApi {
  data: {
    DicomMessage: {
      readFile(
        buffer: ArrayBuffer,
        options?: { ignoreErrors?: boolean; untilTag?: string | null },
      ): { meta: DictDataset; dict: DictDataset };
      _read(
        stream: InstanceType<ReadBufferStreamCtor>,
        syntax: string,
        options?: { ignoreErrors?: boolean },
      ): DictDataset;
    };
    DicomMetaDictionary: {
      naturalizeDataset(dict: DictDataset): NaturalDataset;
      denaturalizeDataset(ds: NaturalDataset): DictDataset;
    };
    ReadBufferStream: ReadBufferStreamCtor;
  };
  log: { setLevel(level: string): void; getLogger(name: string): { setLevel(level: string): void } };
}

let loaded: DcmjsApi | undefined;

/**
 * dcmjs, loaded on first use: it is a large bundle (~0.1 s to load) that programs using
 * only the segmentation API should not pay for.
 */
export default function dcmjs(): DcmjsApi {
  if (!loaded) {
    try {
      loaded = require('dcmjs') as DcmjsApi;
    } catch (err) {
      // An optional peer dependency of the published package: its babel runtime pulls in
      // core-js-pure, whose postinstall script every installer would be warned about.
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
      throw new P2SamError(
        'DICOM_UNSUPPORTED',
        "DICOM support needs the optional package dcmjs, which is not installed: run 'npm install dcmjs@0.51.1'",
        { cause: err },
      );
    }
    // dcmjs logs parser notes ("Invalid vr type xs - using US") on the console; the
    // reader turns real problems into P2SamErrors itself.
    loaded.log.setLevel('error');
    // Its validation logger was created at load time with its own level, and reports the
    // normal resolution of implicit-VR ambiguities ("Invalid vr type xs - using US").
    loaded.log.getLogger('validation.dcmjs').setLevel('silent');
  }
  return loaded;
}
