"""roles/aws_lab, playbooks/aws_lab_{up,down}.yml and inventories/aws/aws_ec2.yml against moto.

A moto server (``moto_server`` from the venv) listens on 127.0.0.1 on a free port; every
ansible-playbook and ansible-inventory run points at it (``aws_lab_endpoint_url``, the
inventory's ``endpoint_url``) with dummy credentials, and runs with a ``sitecustomize`` that
refuses and records any connection to an address outside 127.0.0.0/8 (or ::1): each test ends by
checking that record is empty, so nothing here ever reaches real AWS. Outcomes are read back
from moto with boto3: the lab as built (rules, routes, tags, instance states), idempotence,
``--check --diff`` on an empty, a built and a drifted account (drift injected with boto3), the
refusal of an SSH rule open to the world, teardown of a full and of a half-built lab (twice: the
second run changes nothing), and the aws_ec2 inventory's groups.

What moto cannot show: the instances never boot (no user data runs, no SSH, no k3s). So
``playbooks/aws_lab_up.yml`` runs here only with ``--check`` on an empty account, where its plays
after the provisioning one (wait for SSH, the k3s role, site.yml on testpc) find no hosts, and is
syntax-checked; it is never run against moto's instances, whose addresses are not loopback.
These tests do not use the k8s lab.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import boto3
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
REGION = "us-east-1"
LAB = "meshops-test"
TAG = {"Name": "tag:MeshopsLab", "Values": [LAB]}
ADMIN = "198.51.100.7/32"
HOSTS = {"k3s-s": "server", "k3s-w1": "agent", "k3s-w2": "agent", "testpc": "client"}
OPEN = ("0.0.0.0/0", "::/0")
LIVE = ["pending", "running", "stopping", "stopped"]

# Loaded by every Python process the tests start (PYTHONPATH): connections outside loopback
# fail and are written to $AWS_LAB_TEST_NET_LOG.
GUARD = '''
import os, socket
_log = os.environ.get("AWS_LAB_TEST_NET_LOG")
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

def _allowed(sock, address):
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return True
    host = str(address[0])
    return host.startswith("127.") or host in ("::1", "localhost") or host.startswith("::ffff:127.")

def _guard(sock, address):
    if not _allowed(sock, address):
        with open(_log, "a", encoding="utf-8") as handle:
            handle.write("%r\\n" % (address,))
        raise OSError("aws_lab test: connection to %r refused (loopback only)" % (address,))

def connect(self, address):
    _guard(self, address)
    return _connect(self, address)

def connect_ex(self, address):
    _guard(self, address)
    return _connect_ex(self, address)

socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
'''

PLAY = [{"name": "AWS lab", "hosts": "localhost", "gather_facts": False,
         "roles": [{"role": "meshops.istio.aws_lab"}]}]


# Distinctive dummy credentials, so a test can grep -vvv output for them (moto accepts any).
SECRET = "meshops-test-secret-key-5b1e9c"
SESSION = "meshops-test-session-token-77d2a0"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AwsLab:
    """The moto endpoint, the environment for child processes, and a playbook runner."""

    def __init__(self, tmp, endpoint):
        self.tmp = tmp
        self.endpoint = endpoint
        self.net_log = os.path.join(tmp, "net.log")
        guard_dir = os.path.join(tmp, "guard")
        os.makedirs(guard_dir)
        with open(os.path.join(guard_dir, "sitecustomize.py"), "w", encoding="utf-8") as handle:
            handle.write(GUARD)
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith("AWS_") and key not in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
        self.env.update({
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": SESSION,
            "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_LAB_TEST_NET_LOG": self.net_log, "PYTHONPATH": guard_dir,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_PIPELINING": "1",
            "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        })
        key = os.path.join(tmp, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "aws-lab-test", "-f", key],
                       check=True, capture_output=True)
        self.public_key = key + ".pub"
        self.output_dir = os.path.join(tmp, "out")
        self.playbook = os.path.join(tmp, "aws_lab.yml")
        with open(self.playbook, "w", encoding="utf-8") as handle:
            yaml.safe_dump(PLAY, handle)
        self.vars = {
            "aws_lab_name": LAB, "aws_lab_region": REGION, "aws_lab_endpoint_url": endpoint,
            "aws_lab_admin_cidrs": [ADMIN],
            # moto's images: Canonical's account, older Ubuntu names
            "aws_lab_ami_owners": ["099720109477"],
            "aws_lab_ami_name": "ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*",
            "aws_lab_ssh_public_key_file": self.public_key, "aws_lab_wait_timeout": 60,
            "mesh_output_dir": self.output_dir,
            "ansible_python_interpreter": sys.executable,
        }

    def ec2(self):
        return boto3.client("ec2", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key=SECRET, aws_session_token=SESSION)

    def run(self, extra=None, check=False, diff=False, playbook=None, verbose=False):
        values = dict(self.vars, **(extra or {}))
        vars_file = os.path.join(self.tmp, "vars.json")
        with open(vars_file, "w", encoding="utf-8") as handle:
            json.dump(values, handle)
        cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", "@" + vars_file,
               playbook or self.playbook]
        cmd += ["--check"] if check else []
        cmd += ["--diff"] if diff else []
        cmd += ["-vvv"] if verbose else []
        proc = subprocess.run(cmd, cwd=ROOT, env=self.env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=600, check=False)
        return Result(proc.returncode, proc.stdout)

    def no_traffic_left_loopback(self):
        if os.path.exists(self.net_log):
            with open(self.net_log, encoding="utf-8") as handle:
                assert handle.read() == "", "connections outside loopback were attempted"


class Result:
    def __init__(self, rc, output):
        self.rc = rc
        self.output = output
        recap = [line for line in output.splitlines() if line.startswith("localhost ") and "changed=" in line]
        self.recap = dict(item.split("=") for item in recap[-1].split(":", 1)[1].split()) if recap else {}

    @property
    def changed(self):
        return int(self.recap.get("changed", -1))

    @property
    def failed(self):
        return int(self.recap.get("failed", -1))

    def tail(self, lines=60):
        return "\n".join(self.output.splitlines()[-lines:])


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    server = shutil.which("moto_server", path=BIN)
    if not server:
        pytest.skip("moto_server is not installed in the venv (pip install 'moto[server]')")
    tmp = str(tmp_path_factory.mktemp("aws_lab"))
    port = _free_port()
    endpoint = "http://127.0.0.1:%d" % port
    with open(os.path.join(tmp, "moto.log"), "w", encoding="utf-8") as log:
        proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)],  # pylint: disable=consider-using-with
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto_server did not start on %s" % endpoint)
                time.sleep(0.2)
        yield AwsLab(tmp, endpoint)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _reset(aws):
    subprocess.run([sys.executable, "-c", "import urllib.request; urllib.request.urlopen(urllib.request.Request("
                    "'%s/moto-api/reset', method='POST'))" % aws.endpoint], check=True)


def _tagged(aws):
    """Everything carrying the lab's tag, by kind (instances: the live ones only)."""
    ec2 = aws.ec2()
    instances = [i for r in ec2.describe_instances(Filters=[TAG, {"Name": "instance-state-name", "Values": LIVE}])
                 ["Reservations"] for i in r["Instances"]]
    return {
        "instances": instances,
        "vpcs": ec2.describe_vpcs(Filters=[TAG])["Vpcs"],
        "subnets": ec2.describe_subnets(Filters=[TAG])["Subnets"],
        "igws": ec2.describe_internet_gateways(Filters=[TAG])["InternetGateways"],
        "route_tables": ec2.describe_route_tables(Filters=[TAG])["RouteTables"],
        "security_groups": ec2.describe_security_groups(Filters=[TAG])["SecurityGroups"],
        "key_pairs": [k for k in ec2.describe_key_pairs()["KeyPairs"] if k["KeyName"] == LAB],
    }


def _nothing_left(aws):
    left = {kind: items for kind, items in _tagged(aws).items() if items}
    assert not left, left


def _ingress(group):
    """(protocol, from, to, source) for every ingress rule."""
    rules = set()
    for perm in group["IpPermissions"]:
        for source in [r["CidrIp"] for r in perm.get("IpRanges", [])] + [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])]:
            rules.add((perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"), source))
        for pair in perm.get("UserIdGroupPairs", []):
            rules.add((perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"), pair["GroupId"]))
    return rules


def _never_open(aws):
    for group in aws.ec2().describe_security_groups()["SecurityGroups"]:
        opened = [rule for rule in _ingress(group) if rule[3] in OPEN]
        assert not opened, "%s opens %s" % (group["GroupId"], opened)


def _check_built(aws):
    """The lab as the role builds it, read back from moto."""
    tagged = _tagged(aws)
    assert len(tagged["vpcs"]) == 1 and tagged["vpcs"][0]["CidrBlock"] == "10.60.0.0/16"
    vpc_id = tagged["vpcs"][0]["VpcId"]
    assert [s["CidrBlock"] for s in tagged["subnets"]] == ["10.60.1.0/24"]
    assert tagged["subnets"][0]["MapPublicIpOnLaunch"] is True
    assert [a["VpcId"] for a in tagged["igws"][0]["Attachments"]] == [vpc_id]
    routes = tagged["route_tables"][0]["Routes"]
    assert any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("GatewayId") == tagged["igws"][0]["InternetGatewayId"]
               for r in routes)
    assert [a["SubnetId"] for a in tagged["route_tables"][0]["Associations"]] == [tagged["subnets"][0]["SubnetId"]]
    assert len(tagged["security_groups"]) == 1
    group = tagged["security_groups"][0]
    assert _ingress(group) == {("tcp", 22, 22, ADMIN), ("tcp", 6443, 6443, "10.60.0.0/16"),
                               ("tcp", 10250, 10250, "10.60.0.0/16"), ("udp", 8472, 8472, "10.60.0.0/16")}
    assert len(tagged["key_pairs"]) == 1
    by_name = {}
    for instance in tagged["instances"]:
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        assert tags["Name"] not in by_name, "two instances named %s" % tags["Name"]
        by_name[tags["Name"]] = (tags.get("MeshopsRole"), instance["State"]["Name"], instance["SubnetId"],
                                 [g["GroupId"] for g in instance["SecurityGroups"]], instance["KeyName"])
    assert by_name == {name: (role, "running", tagged["subnets"][0]["SubnetId"], [group["GroupId"]], LAB)
                       for name, role in HOSTS.items()}
    _never_open(aws)
    return tagged


def test_the_loopback_guard_refuses_other_addresses(aws):
    """The guard the runs below rely on: a connection to TEST-NET-1 fails before any packet is sent."""
    log = os.path.join(aws.tmp, "guard-selftest.log")
    env = dict(aws.env, AWS_LAB_TEST_NET_LOG=log)
    code = ("import socket\ntry:\n    socket.create_connection(('192.0.2.1', 443), timeout=1)\n"
            "except OSError as exc:\n    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, text=True, capture_output=True, check=True)
    assert "connection to ('192.0.2.1', 443) refused (loopback only)" in proc.stdout
    with open(log, encoding="utf-8") as handle:
        assert handle.read() == "('192.0.2.1', 443)\n"


def test_open_ssh_is_refused_before_anything_is_created(aws):
    _reset(aws)
    for cidrs in (["0.0.0.0/0"], [ADMIN, "::/0"]):
        result = aws.run({"aws_lab_admin_cidrs": cidrs})
        assert result.rc == 2, result.tail()
        assert "aws_lab_admin_cidrs=%s is refused: it opens SSH to the whole internet" % json.dumps(cidrs) in result.output, \
            result.tail()
        assert "Nothing was created." in result.output
        _nothing_left(aws)
    # missing altogether: the argument spec says so first
    values = dict(aws.vars)
    del values["aws_lab_admin_cidrs"]
    saved, aws.vars = aws.vars, values
    try:
        result = aws.run()
    finally:
        aws.vars = saved
    assert result.rc == 2 and "missing required arguments: aws_lab_admin_cidrs" in result.output, result.tail()
    _nothing_left(aws)
    assert not os.path.exists(os.path.join(aws.output_dir, "aws-lab", "hosts.json"))
    aws.no_traffic_left_loopback()


def test_create_converge_drift_and_teardown(aws):
    _reset(aws)
    # --check on an empty account, through the up playbook (its later plays find no hosts: a lab
    # that does not exist has no addresses to add): says what it would create, creates nothing
    result = aws.run(check=True, diff=True, playbook=os.path.join(ROOT, "playbooks", "aws_lab_up.yml"))
    assert result.rc == 0 and result.changed > 0 and result.failed == 0, result.tail()
    assert "would create, once the VPC exists: subnet 10.60.1.0/24; internet gateway" in result.output
    assert "Add the lab's hosts to this run's inventory" in result.output
    _nothing_left(aws)

    result = aws.run()
    assert result.rc == 0 and result.changed > 0, result.tail()
    tagged = _check_built(aws)
    with open(os.path.join(aws.output_dir, "aws-lab", "hosts.json"), encoding="utf-8") as handle:
        written = json.load(handle)
    addresses = {i["InstanceId"]: (i["PublicIpAddress"], i["PrivateIpAddress"]) for i in tagged["instances"]}
    assert written["vpc_id"] == tagged["vpcs"][0]["VpcId"]
    assert {h["name"]: h["role"] for h in written["hosts"]} == HOSTS
    assert {h["instance_id"]: (h["public_ip"], h["private_ip"]) for h in written["hosts"]} == addresses

    # the re-run, at -vvv: changes nothing and shows neither the secret key, the session token
    # nor the SSH private key (the role only ever reads the public key)
    result = aws.run(verbose=True)
    assert result.rc == 0 and result.changed == 0, result.tail()
    with open(os.path.join(aws.tmp, "id_ed25519"), encoding="utf-8") as handle:
        private_key = "".join(handle.read().splitlines()[1:-1])
    for secret in (SECRET, SESSION, private_key[:40]):
        assert secret not in result.output.replace("\\n", "").replace("\n", "")
    # -vvv shows each result's invocation (the module arguments no_log hides) under either strategy
    assert "module_args" in result.output, result.tail()
    result = aws.run(check=True, diff=True)
    assert result.rc == 0 and result.changed == 0, result.tail()
    assert {i["InstanceId"] for i in _check_built(aws)["instances"]} == set(addresses)

    # the inventory example, pointed at moto, groups the hosts as the k3s role expects
    _check_inventory(aws, addresses)

    # drift by hand: port 80 open to the world, an agent stopped
    ec2 = aws.ec2()
    group_id = tagged["security_groups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    stopped = [i["InstanceId"] for i in tagged["instances"] if {"Key": "Name", "Value": "k3s-w2"} in i["Tags"]][0]
    ec2.stop_instances(InstanceIds=[stopped])
    result = aws.run(check=True, diff=True)
    assert result.rc == 0 and result.changed >= 2, result.tail()
    # the security group's diff takes the hand-made rule away
    assert re.search(r"^-\s+-\s+from_port: 80$", result.output, re.M), result.tail(150)
    assert "changed: [localhost] => (item=k3s-w2 (agent" in result.output, result.tail()
    # ... and changes nothing
    assert ("tcp", 80, 80, "0.0.0.0/0") in _ingress(ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0])
    assert ec2.describe_instances(InstanceIds=[stopped])["Reservations"][0]["Instances"][0]["State"]["Name"] == "stopped"

    result = aws.run()
    assert result.rc == 0 and result.changed > 0, result.tail()
    after = _check_built(aws)
    assert {i["InstanceId"] for i in after["instances"]} == set(addresses)

    # teardown finds everything by the tag and waits for the instances to terminate
    down = os.path.join(ROOT, "playbooks", "aws_lab_down.yml")
    result = aws.run(playbook=down)
    assert result.rc == 0 and result.changed > 0, result.tail()
    _nothing_left(aws)
    assert not os.path.exists(os.path.join(aws.output_dir, "aws-lab", "hosts.json"))
    # the terminated instances are still listed by EC2 for a while: they must not count
    states = {i["State"]["Name"] for r in ec2.describe_instances(Filters=[TAG])["Reservations"] for i in r["Instances"]}
    assert states == {"terminated"}

    # what a run that failed midway leaves (a VPC, a subnet, a security group, one instance), beside
    # someone else's VPC that must stay
    other = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    _half_built(ec2)
    result = aws.run(playbook=down)
    assert result.rc == 0 and result.changed > 0, result.tail()
    _nothing_left(aws)
    assert [v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[other])["Vpcs"]] == [other]

    result = aws.run(playbook=down)
    assert result.rc == 0 and result.changed == 0, result.tail()
    _nothing_left(aws)
    _never_open(aws)
    aws.no_traffic_left_loopback()


def _half_built(ec2):
    def tags(kind, **more):
        return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in dict(more, MeshopsLab=LAB).items()]}]

    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16", TagSpecifications=tags("vpc"))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.1.0/24", TagSpecifications=tags("subnet"))["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=LAB, Description="half", VpcId=vpc,
                                      TagSpecifications=tags("security-group"))["GroupId"]
    image = ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[group],
                      TagSpecifications=tags("instance", Name="k3s-s"))


def _check_inventory(aws, addresses):
    with open(os.path.join(ROOT, "inventories", "aws", "aws_ec2.yml"), encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    config.update({"regions": [REGION], "endpoint_url": aws.endpoint})
    config["filters"]["tag:MeshopsLab"] = LAB
    directory = os.path.join(aws.tmp, "inventory")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "aws_ec2.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    # the checkout's ansible.cfg: its `auto` inventory plugin loads the plugin the file names
    env = dict(aws.env)
    env.pop("ANSIBLE_INVENTORY_ENABLED", None)
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", path, "--list"], cwd=ROOT, env=env,
                          text=True, capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    inventory = json.loads(proc.stdout)

    def members(group):
        return sorted(inventory.get(group, {}).get("hosts", []))

    assert members("k3s_server") == ["k3s-s"]
    assert members("k3s_agent") == ["k3s-w1", "k3s-w2"]
    assert members("clients") == ["testpc"]
    assert members("mesh_controller") == ["testpc"]
    assert members("aws_lab") == sorted(HOSTS)
    # ansible-core 2.19 marks values that came from outside as {"__ansible_unsafe": value}
    hostvars = {host: {key: value.get("__ansible_unsafe", value) if isinstance(value, dict) else value
                       for key, value in values.items()}
                for host, values in inventory["_meta"]["hostvars"].items()}
    public = {hostvars[name]["ansible_host"]: name for name in HOSTS}
    assert set(public) == {pair[0] for pair in addresses.values()}
    for name in HOSTS:
        assert hostvars[name]["k3s_node_name"] == name
        assert (hostvars[name]["ansible_host"], hostvars[name]["aws_lab_private_ip"]) in addresses.values()


@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "roles", "k3s", "tasks", "main.yml")),
                    reason="roles/k3s is not there yet")
def test_the_up_playbook_parses(aws):
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "--syntax-check",
                           os.path.join(ROOT, "playbooks", "aws_lab_up.yml")],
                          cwd=ROOT, env=aws.env, text=True, capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
