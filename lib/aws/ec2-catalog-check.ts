import {
  DescribeInstanceTypeOfferingsCommand,
  DescribeInstanceTypesCommand,
  type DescribeInstanceTypesCommandInput,
  type EC2Client,
  type InstanceTypeInfo,
} from '@aws-sdk/client-ec2';
import type { InstanceType } from '../core/model/instance-type.ts';

/**
 * Cross-checks the hardware in the instance catalog against EC2's DescribeInstanceTypes, so that a typo
 * in the data file (or a type AWS no longer lists) is found by a machine rather than by a failed launch.
 * Prices and boot times are not checked: the API does not return them.
 */

export type CatalogField =
  | 'type'
  | 'offered'
  | 'arch'
  | 'vcpu'
  | 'memoryMiB'
  | 'gpus'
  | 'gpuModel'
  | 'gpuManufacturer'
  | 'gpuMemoryMiB'
  | 'inferentiaChips';

/**
 * One disagreement between the catalog and EC2. `field: 'type'` means EC2 does not know the type;
 * `field: 'offered'` means it exists but not in the client's region, where the catalog's prices apply.
 */
export interface CatalogMismatch {
  readonly type: string;
  readonly field: CatalogField;
  readonly expected: string | number | undefined;
  readonly actual: string | number | undefined;
  readonly message: string;
}

/** The catalog documents its GPU models as NVIDIA parts; Inferentia chips are counted separately. */
const GPU_MANUFACTURER = 'NVIDIA';
/** The SDK types names as a closed union of known types; the catalog's names are checked at run time. */
type SdkInstanceType = NonNullable<DescribeInstanceTypesCommandInput['InstanceTypes']>[number];
/** DescribeInstanceTypes accepts at most 100 names per call. */
const BATCH = 100;

/** The hardware facts of one type, in catalog units, as EC2 reports them. */
interface ReportedHardware {
  archs: readonly string[];
  vcpu: number | undefined;
  memoryMiB: number | undefined;
  gpus: number;
  gpuModel: string | undefined;
  gpuManufacturer: string | undefined;
  gpuMemoryMiB: number | undefined;
  inferentiaChips: number;
}

export function reportedHardware(info: InstanceTypeInfo): ReportedHardware {
  const gpus = info.GpuInfo?.Gpus ?? [];
  const first = gpus[0];
  // Newer API data lists Inferentia under NeuronInfo; older data only under InferenceAcceleratorInfo.
  const neuron = info.NeuronInfo?.NeuronDevices ?? [];
  const accelerators = (info.InferenceAcceleratorInfo?.Accelerators ?? []).filter((a) =>
    a.Name?.startsWith('Inferentia'),
  );
  const chips = neuron.length > 0 ? neuron : accelerators;
  return {
    archs: info.ProcessorInfo?.SupportedArchitectures ?? [],
    vcpu: info.VCpuInfo?.DefaultVCpus,
    memoryMiB: info.MemoryInfo?.SizeInMiB,
    gpus: gpus.reduce((n, g) => n + (g.Count ?? 0), 0),
    gpuModel: first?.Name,
    gpuManufacturer: first?.Manufacturer,
    gpuMemoryMiB: first?.MemoryInfo?.SizeInMiB,
    inferentiaChips: chips.reduce((n, c) => n + (c.Count ?? 0), 0),
  };
}

/** Compare one catalog entry with what EC2 reports for it. Pure, so it is unit-testable without EC2. */
export function compareInstanceType(entry: InstanceType, info: InstanceTypeInfo): CatalogMismatch[] {
  const hw = reportedHardware(info);
  const out: CatalogMismatch[] = [];
  const check = (field: CatalogField, expected: string | number | undefined, actual: typeof expected) => {
    if (expected !== actual)
      out.push({
        type: entry.name,
        field,
        expected,
        actual,
        message: `${entry.name} ${field}: catalog has ${String(expected)}, ec2 reports ${String(actual)}`,
      });
  };
  if (!hw.archs.includes(entry.arch))
    out.push({
      type: entry.name,
      field: 'arch',
      expected: entry.arch,
      actual: hw.archs.join(','),
      message: `${entry.name} arch: catalog has ${entry.arch}, ec2 supports ${hw.archs.join(', ') || 'none'}`,
    });
  check('vcpu', entry.vcpu, hw.vcpu);
  check('memoryMiB', entry.memoryMiB, hw.memoryMiB);
  check('gpus', entry.gpus, hw.gpus);
  check('gpuModel', entry.gpuModel, hw.gpuModel);
  check('gpuManufacturer', entry.gpus > 0 ? GPU_MANUFACTURER : undefined, hw.gpuManufacturer);
  check('gpuMemoryMiB', entry.gpuMemoryMiB, hw.gpuMemoryMiB);
  check('inferentiaChips', entry.inferentiaChips, hw.inferentiaChips);
  return out;
}

function isUnknownTypeError(err: unknown): boolean {
  return err instanceof Error && err.name.startsWith('InvalidInstanceType');
}

/**
 * Describe `names`, returning what EC2 knows. EC2 refuses a whole call when any name is unknown, so on
 * that error the batch is retried one name at a time to find which ones are missing.
 */
async function describe(ec2: EC2Client, names: readonly string[]): Promise<Map<string, InstanceTypeInfo>> {
  const found = new Map<string, InstanceTypeInfo>();
  const record = (infos: readonly InstanceTypeInfo[] | undefined) => {
    for (const info of infos ?? []) if (info.InstanceType) found.set(info.InstanceType, info);
  };
  for (let i = 0; i < names.length; i += BATCH) {
    const batch = names.slice(i, i + BATCH) as SdkInstanceType[];
    try {
      record(await describeAllPages(ec2, batch));
    } catch (err) {
      if (!isUnknownTypeError(err)) throw err;
      for (const name of batch) {
        try {
          record(await describeAllPages(ec2, [name]));
        } catch (single) {
          if (!isUnknownTypeError(single)) throw single;
        }
      }
    }
  }
  return found;
}

async function describeAllPages(ec2: EC2Client, names: SdkInstanceType[]): Promise<InstanceTypeInfo[]> {
  const infos: InstanceTypeInfo[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: names, NextToken: token }));
    infos.push(...(page.InstanceTypes ?? []));
    token = page.NextToken;
  } while (token);
  return infos;
}

/** The subset of `names` offered in the client's region. */
async function offeredInRegion(ec2: EC2Client, names: readonly string[]): Promise<Set<string>> {
  const offered = new Set<string>();
  for (let i = 0; i < names.length; i += BATCH) {
    let token: string | undefined;
    do {
      const page = await ec2.send(
        new DescribeInstanceTypeOfferingsCommand({
          LocationType: 'region',
          Filters: [{ Name: 'instance-type', Values: names.slice(i, i + BATCH) }],
          NextToken: token,
        }),
      );
      for (const o of page.InstanceTypeOfferings ?? []) if (o.InstanceType) offered.add(o.InstanceType);
      token = page.NextToken;
    } while (token);
  }
  return offered;
}

/** Every way the catalog disagrees with EC2's DescribeInstanceTypes; empty when they agree. */
export async function checkCatalogAgainstEc2(
  ec2: EC2Client,
  catalog: readonly InstanceType[],
): Promise<CatalogMismatch[]> {
  const names = catalog.map((t) => t.name);
  const found = await describe(ec2, names);
  const offered = await offeredInRegion(
    ec2,
    names.filter((n) => found.has(n)),
  );
  const region = await ec2.config.region();
  return catalog.flatMap((entry): CatalogMismatch[] => {
    const info = found.get(entry.name);
    if (!info)
      return [
        {
          type: entry.name,
          field: 'type',
          expected: entry.name,
          actual: undefined,
          message: `${entry.name} type: ec2 does not list this instance type`,
        },
      ];
    const notOffered: CatalogMismatch[] = offered.has(entry.name)
      ? []
      : [
          {
            type: entry.name,
            field: 'offered',
            expected: region,
            actual: undefined,
            message: `${entry.name} offered: ec2 does not offer this type in ${region}`,
          },
        ];
    return [...notOffered, ...compareInstanceType(entry, info)];
  });
}
