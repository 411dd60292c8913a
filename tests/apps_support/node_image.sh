#!/bin/bash
# The seed's Node.js "Hello World" image (issue 16, acceptance 1), built from THIS machine's Node.js
# and pushed to a registry:
#
#   DOCKER_HOST=unix://PATH tests/apps_support/node_image.sh --registry 127.0.0.1:PORT --dir DIR
#
# The seed builds FROM google/nodejs with `npm install` and ENTRYPOINT ["/nodejs/bin/npm", "start"];
# no base image or npm registry is reachable from the tests, so the rootfs is /usr/bin/node and the
# shared libraries `ldd` lists for it (at the paths ldd prints, the dynamic loader included), the
# seed's App.js as /app/app.js and its package.json, made into an image by `docker import`.
#
# The entrypoint is ["/usr/bin/node", "/app/app.js"], not `npm start`: npm is a JavaScript program
# of its own (Debian's npm package is thousands of files, nodesource's a tree beside node) that the
# image would have to carry, and `npm start` runs the script's line through /bin/sh, so the image
# would need a shell too; both would sit between the container's pid and the server, so killing the
# instance's process (acceptance 2) would kill npm, not node. `node app.js` is the process
# `npm start` ends up running (package.json: "start": "node app.js"), with nothing in between.
#
# Tags the image <registry>/containersol/nodejs_app:latest (the seed's name, on the test's registry)
# and `docker push`es it (a loopback registry is plain-http-allowed by dockerd without flags).
# Prints the image name on stdout. Env: DOCKER (default /usr/bin/docker, Debian's client, which
# matches Debian's dockerd), NODE (default /usr/bin/node).
set -euo pipefail
die() { echo "node_image: $*" >&2; exit 1; }

registry= dir=
while [ $# -gt 0 ]; do
  case $1 in
    --registry) registry=${2:?}; shift 2 ;;
    --registry=*) registry=${1#*=}; shift ;;
    --dir) dir=${2:?}; shift 2 ;;
    --dir=*) dir=${1#*=}; shift ;;
    *) die "usage: $0 --registry HOST:PORT --dir DIR (unknown argument $1)" ;;
  esac
done
[ -n "$registry" ] && [ -n "$dir" ] || die "usage: $0 --registry HOST:PORT --dir DIR"
docker=${DOCKER:-/usr/bin/docker}
node=${NODE:-/usr/bin/node}
[ -x "$docker" ] || die "no docker client at $docker (apt-get install docker.io)"
[ -x "$node" ] || die "no Node.js at $node (apt-get install nodejs)"
command -v ldd >/dev/null || die "ldd missing (libc-bin)"

image=$registry/containersol/nodejs_app:latest
root=$dir/nodejs-rootfs
rm -rf "$root"
mkdir -p "$root"/{app,tmp,etc,dev,proc,sys}
chmod 1777 "$root/tmp"

# node's own path and every library ldd resolves, copied (not linked: the image has no host to
# point into) to the path ldd printed, so the loader finds each where the binary expects it.
copy() {
  mkdir -p "$root$(dirname "$1")"
  cp -L "$1" "$root$1"
}
copy "$node"
[ "$node" = /usr/bin/node ] || { mkdir -p "$root/usr/bin"; cp -L "$node" "$root/usr/bin/node"; }
libs=$(ldd "$node") || die "ldd $node failed (not a dynamic executable?)"
while read -r line; do
  case $line in
    *"=> not found"*) die "ldd $node: $line" ;;
    *"=> /"*) path=${line#*=> }; copy "${path%% (*}" ;;
    /*) copy "${line%% (*}" ;; # the dynamic loader, printed without "=>"
  esac
done <<< "$libs"
# No /etc/ld.so.cache in the image: the loader searches its built-in directories, which are
# where ldd found the libraries on this Debian host. OpenSSL and ICU inside node need no files.
echo "root:x:0:0:root:/:/nonexistent" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"

# The seed's App.js and package.json, as printed in the seed (its response ends in a tab).
cat > "$root/app/app.js" <<'EOF'
var http = require('http'); 
// Configure our HTTP server to respond with Hello World to all requests.
var server = http.createServer(function (request, response) {
  response.writeHead(200, {"Content-Type": "text/plain"});
  response.end("Hello World	");
}); 
// Listen on port 8000, IP defaults to "0.0.0.0"
server.listen(8000); 
// Put a friendly message on the terminal
console.log("Server running at http://127.0.0.1:8000/");
EOF
cat > "$root/app/package.json" <<'EOF'
{
  "name": "hello-world",
  "description": "hello world",
  "version": "0.0.1",
  "private": true,
  "dependencies": {
    "express": "3.x"
  },
  "scripts": {"start": "node app.js"}
}
EOF

# The image must start: the copied node runs the app's syntax check inside the rootfs alone.
chroot "$root" /usr/bin/node --check /app/app.js || die "node does not run inside its rootfs $root"

tar -C "$root" -cf "$dir/nodejs-rootfs.tar" . || die "tar of $root failed"
"$docker" import \
  --change 'WORKDIR /app' \
  --change 'EXPOSE 8000' \
  --change 'ENTRYPOINT ["/usr/bin/node", "/app/app.js"]' \
  "$dir/nodejs-rootfs.tar" "$image" >/dev/null || die "docker import failed"
"$docker" push "$image" >"$dir/push.log" 2>&1 || { cat "$dir/push.log" >&2; die "docker push $image failed"; }
echo "$image"
