// Command websrv stands in for nginx and httpd in the CRI conformance test images
// (see ../../build-images.sh). What critest checks of those servers is small: an
// HTTP 200 on the container port, a few process-level traits and a log line. The
// persona is the name the program was started as:
//
//	nginx  re-executes itself so that /proc/<pid>/cmdline reads
//	       "nginx: master process <original command line>" (critest's PID namespace
//	       specs grep /proc/1/cmdline for "master process"); the process name (comm)
//	       stays "nginx" for pidof. Writes its pid to /var/run/nginx.pid, serves on
//	       the port of the first "listen N;" in /etc/nginx/conf.d/default.conf (80
//	       without one) and logs one access line per request to stdout.
//	httpd  serves on :80 (or the first "Listen N" in
//	       /usr/local/apache2/conf/httpd.conf) and logs "httpd: ..." lines to stderr.
//
// SIGTERM, SIGINT and SIGQUIT end it with status 0.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	masterPrefix = "nginx: master process "
	nginxConf    = "/etc/nginx/conf.d/default.conf"
	nginxPidFile = "/var/run/nginx.pid"
	httpdConf    = "/usr/local/apache2/conf/httpd.conf"
)

const nginxPage = `<!DOCTYPE html>
<html>
<head><title>Welcome to nginx!</title></head>
<body>
<h1>Welcome to nginx!</h1>
<p>A stand-in web server for the CRI conformance tests.</p>
</body>
</html>
`

const httpdPage = "<html><body><h1>It works!</h1></body></html>\n"

type persona struct {
	name string
	page string
	logf func(format string, args ...any)
}

func main() {
	var p persona
	switch {
	case strings.HasPrefix(os.Args[0], masterPrefix):
		p = persona{name: "nginx", page: nginxPage, logf: stdoutLog}
	case filepath.Base(os.Args[0]) == "nginx":
		// Become "nginx: master process …": a new argv[0] only shows in
		// /proc/<pid>/cmdline after an exec. Executing the binary by its own
		// path (not /proc/self/exe) keeps comm "nginx".
		exe, err := os.Executable()
		if err != nil {
			fatal("nginx: locating own executable: %v", err)
		}
		argv := []string{masterPrefix + strings.Join(os.Args, " ")}
		err = syscall.Exec(exe, argv, os.Environ())
		fatal("nginx: re-exec %s: %v", exe, err)
	default:
		p = persona{name: "httpd", page: httpdPage, logf: stderrLog}
	}

	port := 80
	if p.name == "nginx" {
		port = confPort(nginxConf, "listen", port)
	} else {
		port = confPort(httpdConf, "Listen", port)
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		fatal("%s: %v", p.name, err)
	}
	if p.name == "nginx" {
		if err := os.WriteFile(nginxPidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fatal("nginx: %v", err)
		}
	}
	p.logf("%s: listening on %s (pid %d)", p.name, ln.Addr(), os.Getpid())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	go func() {
		s := <-sigs
		p.logf("%s: got signal %v, exiting", p.name, s)
		if p.name == "nginx" {
			os.Remove(nginxPidFile)
		}
		os.Exit(0)
	}()

	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			fatal("%s: accept: %v", p.name, err)
		}
		go p.serve(c)
	}
}

// serve answers every request on c with the persona's page until the client
// closes the connection, asks to close it, or stays idle for a minute.
func (p persona) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		fields := strings.Fields(line)
		if len(fields) != 3 || !strings.HasPrefix(fields[2], "HTTP/") {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return
		}
		method, target, proto := fields[0], fields[1], fields[2]
		keepAlive := proto == "HTTP/1.1"
		var bodyLen int64
		for {
			h, err := r.ReadString('\n')
			if err != nil {
				return
			}
			h = strings.TrimRight(h, "\r\n")
			if h == "" {
				break
			}
			k, v, _ := strings.Cut(h, ":")
			v = strings.TrimSpace(v)
			switch strings.ToLower(k) {
			case "connection":
				switch strings.ToLower(v) {
				case "close":
					keepAlive = false
				case "keep-alive":
					keepAlive = true
				}
			case "content-length":
				bodyLen, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if bodyLen > 0 {
			if _, err := io.CopyN(io.Discard, r, bodyLen); err != nil {
				return
			}
		}

		conn := "keep-alive"
		if !keepAlive {
			conn = "close"
		}
		head := fmt.Sprintf("HTTP/1.1 200 OK\r\nServer: %s\r\nDate: %s\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n",
			p.name, time.Now().UTC().Format(time.RFC1123), len(p.page), conn)
		resp := head
		if method != "HEAD" {
			resp += p.page
		}
		if _, err := io.WriteString(c, resp); err != nil {
			return
		}
		if p.name == "nginx" {
			p.logf(`%s - - [%s] "%s %s %s" 200 %d`, remoteHost(c), time.Now().Format("02/Jan/2006:15:04:05 -0700"),
				method, target, proto, len(p.page))
		} else {
			p.logf("httpd: %s %s %s from %s: 200", method, target, proto, remoteHost(c))
		}
		if !keepAlive {
			return
		}
	}
}

// confPort returns the number after the first `key N` directive in file, or def.
func confPort(file, key string, def int) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return def
	}
	f := strings.Fields(strings.NewReplacer("{", " { ", "}", " } ", ";", " ; ").Replace(string(b)))
	for i := 0; i+1 < len(f); i++ {
		if f[i] != key {
			continue
		}
		v := f[i+1]
		if j := strings.LastIndexByte(v, ':'); j >= 0 {
			v = v[j+1:]
		}
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 65536 {
			return n
		}
	}
	return def
}

func remoteHost(c net.Conn) string {
	h, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return h
}

func stdoutLog(format string, args ...any) { fmt.Fprintf(os.Stdout, format+"\n", args...) }
func stderrLog(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
