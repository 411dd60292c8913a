#!/usr/bin/env python3
"""Image benchmark driver, started by bench/images.sh (stdlib only; see there for what it measures).

Builds a ~SIZE MiB image (a busybox rootfs layer plus a layer of random files; a single-layer
variant for the bind backend), serves it from a `docker save` directory (warm provisioning) and
from Debian's docker-registry on loopback (cold pulls), starts one private agent per case and
prints a markdown report.
"""

import argparse
import gzip
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from driver import Client, pct  # noqa: E402

MIB = 1024 * 1024
ISOLATION = "filesystem/linux,docker/runtime,namespaces/pid"


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# ---- the image ---------------------------------------------------------------------------------

def tar_bytes(add):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        add(t)
    return buf.getvalue()


def add_file(t, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 1_700_000_000
    t.addfile(info, io.BytesIO(data))


def add_dir(t, name):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
    t.addfile(info)


def add_symlink(t, name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    t.addfile(info)


def busybox_rootfs(t):
    busybox = shutil.which("busybox") or "/bin/busybox"
    for d in ("bin", "dev", "proc", "sys", "tmp", "mnt", "mnt/mesos", "mnt/mesos/sandbox", "etc"):
        add_dir(t, d)
    with open(busybox, "rb") as f:
        add_file(t, "bin/busybox", f.read(), 0o755)
    for applet in ("sh", "true", "ls", "cat"):
        add_symlink(t, "bin/" + applet, "busybox")


def random_files(t, size_mib):
    # 1 MiB files in 16 directories: many files, like a real image's payload.
    add_dir(t, "data")
    for d in range(16):
        add_dir(t, "data/d%02d" % d)
    for i in range(size_mib):
        add_file(t, "data/d%02d/f%04d" % (i % 16, i), os.urandom(MIB))


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Image:
    """Layer blobs (gzip, as registries serve them), their tars, the config and manifest."""

    def __init__(self, tars):
        self.tars = tars
        self.blobs = [gzip.compress(t, compresslevel=1) for t in tars]
        self.config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in tars]},
        }).encode()
        self.manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": len(self.config), "digest": sha(self.config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": len(b), "digest": sha(b)} for b in self.blobs],
        }).encode()

    def size(self):
        return sum(len(t) for t in self.tars)

    def write_docker_save(self, path, repo_tag):
        def add(t):
            config_name = sha(self.config)[7:] + ".json"
            add_file(t, config_name, self.config)
            names = []
            for layer in self.tars:
                d = sha(layer)[7:]
                add_dir(t, d)
                add_file(t, d + "/layer.tar", layer)
                names.append(d + "/layer.tar")
            add_file(t, "manifest.json", json.dumps(
                [{"Config": config_name, "RepoTags": [repo_tag], "Layers": names}]).encode())
        with open(path, "wb") as f:
            f.write(tar_bytes(add))

    def unpack(self, dest):
        os.makedirs(dest)
        for layer in self.tars:
            with tarfile.open(fileobj=io.BytesIO(layer)) as t:
                t.extractall(dest, filter="fully_trusted")


# ---- the registry ------------------------------------------------------------------------------

class Registry:
    def __init__(self, tmp):
        binary = shutil.which("docker-registry") or shutil.which("registry")
        if not binary:
            sys.exit("bench: docker-registry missing (apt-get install docker-registry)")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        config = os.path.join(tmp, "registry.yml")
        with open(config, "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    "    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%d\n"
                    % (os.path.join(tmp, "registry-storage"), self.port))
        self.proc = subprocess.Popen([binary, "serve", config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("bench: docker-registry does not listen")

    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=b"", headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.getheader("Location"), data

    def push(self, repo, image):
        for blob in [image.config] + image.blobs:
            code, location, _ = self.request("POST", "/v2/%s/blobs/uploads/" % repo)
            assert code == 202, code
            location = location.replace(self.base(), "")
            sep = "&" if "?" in location else "?"
            code, _, body = self.request("PUT", "%s%sdigest=%s" % (location, sep, sha(blob)), blob,
                                         {"Content-Type": "application/octet-stream"})
            assert code == 201, (code, body)
        code, _, body = self.request(
            "PUT", "/v2/%s/manifests/latest" % repo, image.manifest,
            {"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
        assert code == 201, (code, body)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


# ---- the agent ---------------------------------------------------------------------------------

class Agent:
    def __init__(self, binary, tmp, name, registry, backend):
        self.dir = os.path.join(tmp, name)
        self.work = os.path.join(self.dir, "work")
        sock = os.path.join(self.dir, "agent.sock")
        os.makedirs(self.dir)
        self.log = open(os.path.join(self.dir, "agent.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "agent", "--work_dir=" + self.work, "--runtime_dir=" + os.path.join(self.dir, "run"),
             "--socket=" + sock, "--isolation=" + ISOLATION, "--image_providers=docker",
             "--docker_registry=" + registry, "--image_provisioner_backend=" + backend],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.client = Client(sock)
        for _ in range(300):
            try:
                if self.client.request("GET", "/health")[0] == 200:
                    break
            except OSError:
                self.client.close()
            time.sleep(0.1)
        else:
            sys.exit("bench: the agent does not answer on " + sock)
        self.n = 0
        # LAUNCH answered (the rootfs is provisioned and the task spawned), per run, in seconds.
        self.launched = []

    def run(self, image, cached=True):
        """LAUNCH of /bin/true in `image` -> WAIT answered, in seconds; the container is removed after."""
        self.n += 1
        cid = "b%d" % self.n
        launch = {"container_id": {"value": cid}, "command": {"value": "/bin/true", "shell": False}}
        if image is not None:
            spec = {"type": "DOCKER", "docker": {"name": image}}
            if not cached:
                spec["cached"] = False
            launch["container"] = {"type": "MESOS", "mesos": {"image": spec}}
        # The previous run's writes (a copied rootfs, an unpacked layer) are flushed first, untimed,
        # so no run pays for the writeback of another.
        os.sync()
        t0 = time.perf_counter()
        self.client.call({"type": "LAUNCH_CONTAINER", "launch_container": launch})
        self.launched.append(time.perf_counter() - t0)
        out = self.client.call({"type": "WAIT_CONTAINER", "wait_container": {"container_id": {"value": cid}}})
        dt = time.perf_counter() - t0
        status = (out or {}).get("wait_container", {}).get("exit_status")
        if status != 0:
            sys.exit("bench: %s in %s ended %r (see %s)" % (cid, image, out, self.log.name))
        self.client.call({"type": "REMOVE_CONTAINER", "remove_container": {"container_id": {"value": cid}}})
        return dt

    def provision_ms(self):
        """The agent's own figure per launch with an image: PROVISIONING began -> rootfs ready."""
        with open(self.log.name, errors="replace") as f:
            return [float(m.group(1)) for m in re.finditer(r"rootfs ready \(\w+\) ([0-9.]+) ms", f.read())]

    def empty_store(self):
        store = os.path.join(self.work, "store", "docker")
        for sub in ("layers", "images"):
            shutil.rmtree(os.path.join(store, sub), ignore_errors=True)

    def stop(self):
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def timed(argv):
    os.sync()
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def median(xs):
    return pct(xs, 50)


# ---- docker ------------------------------------------------------------------------------------

class Docker:
    """A private dockerd (own data root and socket), or the reason there is none."""

    def __init__(self, tmp):
        self.proc = None
        self.why = None
        dockerd = shutil.which("dockerd")
        if not dockerd or not shutil.which("docker"):
            self.why = "docker.io is not installed (apt-get install docker.io)"
            return
        d = os.path.join(tmp, "docker")
        os.makedirs(d)
        self.sock = os.path.join(d, "docker.sock")
        self.env = dict(os.environ, DOCKER_HOST="unix://" + self.sock)
        self.log = open(os.path.join(d, "dockerd.log"), "wb")
        self.proc = subprocess.Popen(
            [dockerd, "--data-root=" + os.path.join(d, "root"), "--exec-root=" + os.path.join(d, "exec"),
             "--pidfile=" + os.path.join(d, "pid"), "-H", "unix://" + self.sock,
             "--iptables=false", "--bridge=none", "--storage-driver=overlay2"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        for _ in range(300):
            if self.proc.poll() is not None:
                break
            if subprocess.run(["docker", "version"], env=self.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0:
                return
            time.sleep(0.1)
        with open(self.log.name, errors="replace") as f:
            tail = f.read().strip().splitlines()[-1:] or ["(no output)"]
        self.why = "dockerd did not start: " + tail[0]
        self.stop()

    def ok(self):
        return self.why is None

    def cmd(self, *args):
        subprocess.run(["docker"] + list(args), env=self.env, check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def timed(self, *args):
        os.sync()
        t0 = time.perf_counter()
        self.cmd(*args)
        return time.perf_counter() - t0

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# ---- the run -----------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--tmp", required=True)
    p.add_argument("--size", type=int, default=100, help="MiB of random files in the image")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    tmp, runs = args.tmp, args.runs

    log("building the images (%d MiB of random files)" % args.size)
    base_tar = tar_bytes(busybox_rootfs)
    data_tar = tar_bytes(lambda t: random_files(t, args.size))
    big = Image([base_tar, data_tar])
    single = Image([tar_bytes(lambda t: (busybox_rootfs(t), random_files(t, args.size)))])
    small = Image([base_tar])
    local = os.path.join(tmp, "local-registry")
    os.makedirs(local)
    big.write_docker_save(os.path.join(local, "big:latest.tar"), "big:latest")
    single.write_docker_save(os.path.join(local, "bigone:latest.tar"), "bigone:latest")
    small.write_docker_save(os.path.join(local, "small:latest.tar"), "small:latest")
    registry = Registry(tmp)
    registry.push("bench/big", big)
    docker = Docker(tmp)
    agents = []
    rows = []
    try:
        # Warm provisioning: the image is in the store (first launches untimed).
        warm, answered, provisioned = {}, {}, {}
        for backend, image in (("overlay", None), ("copy", "big"), ("overlay", "big"), ("bind", "bigone"),
                               ("overlay", "small"), ("bind", "small")):
            key = (backend, image)
            a = Agent(args.binary, tmp, "warm-%s-%s" % key, local, backend)
            agents.append(a)
            a.run(image)
            a.run(image)
            warm[key] = [a.run(image) for _ in range(runs)]
            answered[key] = a.launched[-runs:]
            provisioned[key] = a.provision_ms()[-runs:] if image else []
            log("warm %s %s: median %.1f ms" % (backend, image, median(warm[key]) * 1000))
            a.stop()
        tree = os.path.join(tmp, "tree")
        big.unpack(tree)
        cps = []
        for i in range(runs):
            dest = os.path.join(tmp, "cp%d" % i)
            cps.append(timed(["cp", "-a", tree, dest]))
            shutil.rmtree(dest)
        ref = "127.0.0.1:%d/bench/big:latest" % registry.port
        docker_create = docker_run = None
        if docker.ok():
            docker.cmd("pull", ref)
            docker_create, docker_run = [], []
            for i in range(runs + 1):
                t = docker.timed("create", "--network", "none", "--name", "c%d" % i, ref, "/bin/true")
                docker.cmd("rm", "c%d" % i)
                r = docker.timed("run", "--rm", "--network", "none", ref, "/bin/true")
                if i:
                    docker_create.append(t)
                    docker_run.append(r)

        # Cold pulls: the store (or docker's image) emptied before each run.
        a = Agent(args.binary, tmp, "cold", registry.base(), "overlay")
        agents.append(a)
        cold = []
        for _ in range(runs):
            a.empty_store()
            cold.append(a.run("bench/big"))
        log("cold pull: median %.2f s" % median(cold))
        a.stop()
        pulls = None
        if docker.ok():
            pulls = []
            for _ in range(runs):
                docker.cmd("rmi", "-f", ref)
                pulls.append(docker.timed("pull", ref))
        blob_urls = ["%s/v2/bench/big/blobs/%s" % (registry.base(), sha(b)) for b in [big.config] + big.blobs]
        curls = []
        for _ in range(runs):
            argv = ["curl", "-sf"]
            for u in blob_urls:
                argv += ["-o", "/dev/null", u]
            curls.append(timed(argv))
    finally:
        for a in agents:
            if a.proc.poll() is None:
                a.stop()
        docker.stop()
        registry.stop()

    mib = big.size() / MIB
    blob_mib = sum(len(b) for b in big.blobs) / MIB
    ms = lambda xs: "%.1f" % (median(xs) * 1000)  # noqa: E731
    print("### Images: warm provisioning (%.0f MiB image, %d layers; median of %d, min in brackets)\n"
          % (mib, len(big.tars), runs))
    print("| what | provisioning (agent's log), ms | LAUNCH answered, ms | launch-to-exit of /bin/true, ms "
          "| peer, ms | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    cp = median(cps)
    labels = {("overlay", None): "no image: the host's /bin/true (same agent and isolation)",
              ("copy", "big"): "copy backend, %.0f MiB, 2 layers" % mib,
              ("overlay", "big"): "overlay backend, %.0f MiB, 2 layers" % mib,
              ("bind", "bigone"): "bind backend, %.0f MiB, 1 layer" % (single.size() / MIB),
              ("overlay", "small"): "overlay backend, busybox only (%.1f MiB)" % (small.size() / MIB),
              ("bind", "small"): "bind backend, busybox only (%.1f MiB)" % (small.size() / MIB)}
    for key, label in labels.items():
        xs = warm[key]
        if key[1] in ("big", "bigone"):
            peer = "%.1f (`cp -a` of the tree)" % (cp * 1000)
            ratio = "%.3f× of `cp -a`" % (median(xs) / cp)
        else:
            peer, ratio = "", ""
        ys = answered[key]
        ps = provisioned[key]
        prov = "%.2f (%.2f)" % (median(ps), min(ps)) if ps else ""
        print("| %s | %s | %s (%.1f) | %s (%.1f) | %s | %s |"
              % (label, prov, ms(ys), min(ys) * 1000, ms(xs), min(xs) * 1000, peer, ratio))
    if docker_create is not None:
        print("| `docker create` (overlay2), %.0f MiB | | | | %s | |" % (mib, ms(docker_create)))
        ov = median(warm[("overlay", "big")])
        print("| `docker run --rm --network none … /bin/true`, %.0f MiB | | | %s (mesolite overlay) | %s | %.2f× of docker |"
              % (mib, ms(warm[("overlay", "big")]), ms(docker_run), ov / median(docker_run)))
    print("\n### Images: cold pull from docker-registry on loopback (%.0f MiB of gzip blobs; median of %d)\n"
          % (blob_mib, runs))
    print("| what | seconds | MiB/s of blobs | speed vs mesolite |")
    print("|---|---:|---:|---:|")
    c = median(cold)
    print("| mesolite LAUNCH → exit, store emptied (pull, verify, unpack, overlay) | %.2f | %.0f | 1.00× |"
          % (c, blob_mib / c))
    if pulls is not None:
        d = median(pulls)
        print("| `docker pull` after `docker rmi` (pull, verify, unpack) | %.2f | %.0f | mesolite is %.2f× docker's speed |"
              % (d, blob_mib / d, d / c))
    k = median(curls)
    print("| `curl` of the same blobs to /dev/null (the floor: transfer only) | %.2f | %.0f | mesolite is %.2f× curl's speed |"
          % (k, blob_mib / k, k / c))
    print()
    if pulls is None:
        print("No `docker pull` figures: %s." % docker.why)
    print("Goals (issue 6): overlay and bind provisioning ≤ 5 ms regardless of image size; "
          "cold pull ≥ 1.0× docker's speed. Provisioning is the agent's own log line: from the "
          "launch entering PROVISIONING (image in the store) to its rootfs being ready (store lookup, "
          "backend mount or copy). LAUNCH answered adds the spawn; launch-to-exit adds the task's "
          "filesystem/linux mounts, pivot_root, exec, reaping and the rootfs teardown (WAIT is "
          "answered once the rootfs is unmounted and removed).")


if __name__ == "__main__":
    main()
