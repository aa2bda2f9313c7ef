import { describe, expect, it } from 'vitest';
import { readAgentConfig } from '../../../agent/config.ts';
import { ValidationError } from '../../../lib/core/errors.ts';

const required = {
  TETRAFLEET_QUEUE_URL: 'http://localhost:4566/000000000000/i-1',
  TETRAFLEET_REPORTS_QUEUE_URL: 'http://localhost:4566/000000000000/reports',
};

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return [...error.issues];
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('agent config', () => {
  it('fills in defaults and returns a frozen, typed config', () => {
    const config = readAgentConfig(required);
    expect(config).toMatchObject({
      queueUrl: required.TETRAFLEET_QUEUE_URL,
      mode: 'ec2',
      imdsUrl: 'http://169.254.169.254',
      heartbeatSeconds: 30,
      pollWaitSeconds: 20,
      visibilitySeconds: 60,
      outputTailBytes: 4096,
    });
    expect(config.vcpu).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lets a flag win over its variable, in both --flag value and --flag=value forms', () => {
    const config = readAgentConfig({ ...required, TETRAFLEET_VCPU: '2', TETRAFLEET_GPUS: '1' }, [
      '--vcpu=6',
      '--gpus',
      '4',
      '--mode',
      'local',
      '--instance-id',
      'i-local-1',
    ]);
    expect(config).toMatchObject({ vcpu: 6, gpus: 4, mode: 'local', instanceId: 'i-local-1' });
  });

  it('treats an empty variable as unset', () => {
    expect(readAgentConfig({ ...required, TETRAFLEET_VCPU: '' }).vcpu).toBeUndefined();
  });

  it('fails when several settings are wrong, reporting all of them in one error', () => {
    const issues = issuesOf(() =>
      readAgentConfig(
        {
          TETRAFLEET_MODE: 'local',
          TETRAFLEET_VCPU: 'abc',
          TETRAFLEET_GPUS: '2.5',
          TETRAFLEET_POLL_WAIT_SECONDS: '30',
        },
        ['--bogus'],
      ),
    );
    expect(Object.fromEntries(issues.map((i) => [i.path, i.message]))).toEqual({
      '--bogus': expect.stringContaining('unknown argument'),
      TETRAFLEET_VCPU: 'must be a number between 0.001 and 448, got "abc"',
      TETRAFLEET_GPUS: 'must be a whole number between 0 and 16, got "2.5"',
      TETRAFLEET_POLL_WAIT_SECONDS: 'must be between 0 and 20, got 30',
      TETRAFLEET_QUEUE_URL: 'is required (or pass --queue-url)',
      TETRAFLEET_REPORTS_QUEUE_URL: 'is required (or pass --reports-queue-url)',
      TETRAFLEET_INSTANCE_ID: expect.stringContaining('required in local mode'),
    });
  });

  it('fails when the mode is unknown, naming the allowed ones', () => {
    const issues = issuesOf(() => readAgentConfig({ ...required, TETRAFLEET_MODE: 'k8s' }));
    expect(issues).toEqual([{ path: 'TETRAFLEET_MODE', message: 'must be ec2 or local, got "k8s"' }]);
  });

  it('fails when a flag has no value', () => {
    const issues = issuesOf(() => readAgentConfig(required, ['--vcpu']));
    expect(issues).toEqual([{ path: '--vcpu', message: 'needs a value' }]);
  });

  it('reads the serving settings: profile CLI, control table and advertised address', () => {
    const config = readAgentConfig(
      {
        ...required,
        TETRAFLEET_PROFILE_CLI: '/opt/tetrafleet/profile-cli',
        TETRAFLEET_CONTROL_TABLE: 'tetrafleet-control',
      },
      ['--advertise-host', '10.0.0.5'],
    );
    expect(config).toMatchObject({
      profileCli: '/opt/tetrafleet/profile-cli',
      controlTable: 'tetrafleet-control',
      advertiseHost: '10.0.0.5',
    });
  });

  it('fails when the advertised address is not a host name or IP address', () => {
    const issues = issuesOf(() => readAgentConfig({ ...required, TETRAFLEET_ADVERTISE_HOST: 'http://x/y' }));
    expect(issues).toEqual([
      { path: 'TETRAFLEET_ADVERTISE_HOST', message: 'must be a host name or IP address, got "http://x/y"' },
    ]);
  });
});
