# fish completion for bredmachine, the command-line client of bred-machined.
# Machine names, distributions, recipes and jobs come from the daemon
# (bredmachine ... --no-legend), on the host named by -H when the line has one.

# The options whose argument may be the next word; after the network and
# create verbs, --host is a network mode and takes none.
set -g __bredmachine_options_with_argument -H --host --json --distro --arch --release --url --sha256 --verify --recipe --convert \
    --with -s --signal --kill-whom --bridge --address --gateway --dns --password-hash --groups --shell --user \
    -E --env --cwd --memory --memory-high --cpu --cpu-weight --io-weight --tasks --compression

# The verb and the positional arguments before the cursor, one a line.
function __bredmachine_words
    set -l words
    set -l skip_next
    set -l after_dashes
    set -l tokens (commandline -opc)
    set -e tokens[1]
    for token in $tokens
        if set -q skip_next[1]
            set -e skip_next
        else if set -q after_dashes[1]
            set -a words $token
        else
            switch $token
                case --
                    set -q words[1]; and set after_dashes 1
                case --host
                    contains -- "$words[1]" network create; or set skip_next 1
                case '-*'
                    contains -- $token $__bredmachine_options_with_argument; and set skip_next 1
                case '*'
                    set -a words $token
            end
        end
    end
    set -q words[1]; and printf '%s\n' $words
end

# -H HOST of the command line, for the listing calls.
function __bredmachine_host
    set -l tokens (commandline -opc)
    set -l host
    set -l seen_network
    for i in (seq 2 (count $tokens))
        switch $tokens[$i]
            case -H --host
                if test $tokens[$i] = -H; or not set -q seen_network[1]
                    set host $tokens[(math $i + 1)]
                end
            case '-H?*'
                set host (string sub -s 3 -- $tokens[$i])
            case '--host=*'
                set host (string replace -- --host= '' $tokens[$i])
            case network create
                set seen_network 1
        end
    end
    set -q host[1]; and printf '%s\n' -H $host
end

# True when the line has a verb.
function __bredmachine_has_verb
    set -l words (__bredmachine_words)
    set -q words[1]
end

# True past run's or shell's NAME: the words there are the command's, and none is ours.
function __bredmachine_in_command
    set -l words (__bredmachine_words)
    contains -- "$words[1]" run shell; and test (count $words) -ge 3
end

# True when the verb is one of the arguments, before any command of run or shell.
function __bredmachine_verb_is
    not __bredmachine_in_command; and contains -- (__bredmachine_words)[1] $argv
end

# True when the cursor is on positional argument number $argv[1] (from 0) of
# one of the verbs that follow.
function __bredmachine_argument -a position
    set -l words (__bredmachine_words)
    test (count $words) -eq (math $position + 1); and contains -- $words[1] $argv[2..-1]
end

# Machines whose class and state match the regular expressions $argv[1] and $argv[2].
function __bredmachine_machines -a class_pattern state_pattern
    bredmachine (__bredmachine_host) list --no-legend 2>/dev/null | while read -l name class state rest
        string match -qr -- "^($class_pattern)\$" $class
        and string match -qr -- "^($state_pattern)\$" $state
        and printf '%s\n' $name
    end
end

# [USER@]NAME of shell: a running container, after the user when one is typed.
function __bredmachine_shell_target
    set -l user (string match -r -- '^[^@]*@' (commandline -ct)); or set user ''
    for machine in (__bredmachine_machines container running)
        printf '%s\n' $user$machine
    end
end

# The first column of a listing verb: distros, recipes or jobs.
function __bredmachine_ids -a verb
    bredmachine (__bredmachine_host) $verb --no-legend 2>/dev/null | while read -l id rest
        printf '%s\n' $id
    end
end

# The releases of the catalog: the second column of distros.
function __bredmachine_releases
    bredmachine (__bredmachine_host) distros --no-legend 2>/dev/null | while read -l id release rest
        printf '%s\n' $release
    end
end

# This host's bridges; a remote host's are not known here.
function __bredmachine_bridges
    set -l host (__bredmachine_host)
    set -q host[1]; and return
    for bridge in /sys/class/net/*/bridge
        basename (dirname $bridge)
    end
end

complete -c bredmachine -f

# Verbs
complete -c bredmachine -n 'not __bredmachine_has_verb' -a list -d 'List machines'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a status -d "Show machines' state and properties"
complete -c bredmachine -n 'not __bredmachine_has_verb' -a jobs -d 'List running jobs'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a distros -d 'List the distributions templates come from'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a recipes -d 'List the conversion recipes'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a create-template -d 'Download, verify and install a template'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a import -d 'Install a template from a local archive'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a clone -d 'Copy a machine into a new container or template'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a convert -d 'Convert a container with a recipe'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a start -d 'Boot a container'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a stop -d 'Power a container off'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a poweroff -d 'Power a container off cleanly'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a terminate -d 'Kill a container'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a reboot -d 'Reboot a container'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a kill -d "Send a signal to a container's processes"
complete -c bredmachine -n 'not __bredmachine_has_verb' -a enable -d 'Start a container at boot'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a disable -d 'Do not start a container at boot'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a bind -d 'Bind a host folder into a container'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a unbind -d 'Drop a bind of a container'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a network -d "Set up a container's network"
complete -c bredmachine -n 'not __bredmachine_has_verb' -a add-user -d 'Create a login user inside a container'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a run -d 'Run a command inside a container'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a shell -d 'An interactive shell inside a running container'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a login -d 'A login prompt inside a running container'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a remove -d 'Delete a stopped machine'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a rename -d 'Rename a stopped machine'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a cancel -d 'Cancel a job'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a copy-to -d 'Copy a file or directory into a machine'
complete -c bredmachine -n 'not __bredmachine_has_verb' -a copy-from -d 'Copy a file or directory out of a machine'

# Global options, before or after the verb (not in the command of run or shell)
complete -c bredmachine -n 'not __bredmachine_in_command' -s h -l help -d "Show the help, or the verb's"
complete -c bredmachine -n 'not __bredmachine_in_command' -l version -d 'Show the version'
complete -c bredmachine -n 'not __bredmachine_in_command' -s H -x -a '(__fish_print_hostnames)' -d "A remote host's daemon, over SSH"
complete -c bredmachine -n 'not __bredmachine_in_command; and not __bredmachine_verb_is network create' -l host -x -a '(__fish_print_hostnames)' \
    -d "A remote host's daemon, over SSH"
complete -c bredmachine -n 'not __bredmachine_in_command' -s j -d 'JSON output: pretty on a terminal, short otherwise'
complete -c bredmachine -n 'not __bredmachine_in_command' -l json -x -a 'pretty short off' -d 'Machine-readable output'
complete -c bredmachine -n 'not __bredmachine_in_command' -l no-legend -d 'No column headers and no footer'
complete -c bredmachine -n 'not __bredmachine_in_command' -s q -l quiet -d 'No informational messages'
complete -c bredmachine -n 'not __bredmachine_in_command' -l no-pager -d 'Accepted; nothing pages'
complete -c bredmachine -n 'not __bredmachine_in_command' -l no-progress -d 'No progress bar for job verbs'
complete -c bredmachine -n 'not __bredmachine_in_command' -l no-ask-password -d 'Do not ask for a password when authorization needs one'

# Each verb's options
complete -c bredmachine -n '__bredmachine_verb_is list' -l size -d 'A DISK column'
complete -c bredmachine -n '__bredmachine_verb_is create-template' -l distro -x -a '(__bredmachine_ids distros)' \
    -d 'A distribution of distros'
complete -c bredmachine -n '__bredmachine_verb_is create-template' -l arch -x -d 'Its architecture'
complete -c bredmachine -n '__bredmachine_verb_is create-template' -l release -x -a '(__bredmachine_releases)' \
    -d 'Its release, from distros'
complete -c bredmachine -n '__bredmachine_verb_is create-template' -l url -x -d 'An http(s) URL of a rootfs archive'
complete -c bredmachine -n '__bredmachine_verb_is create-template import' -l sha256 -x \
    -d 'The expected SHA-256 of the archive'
complete -c bredmachine -n '__bredmachine_verb_is create-template import' -l verify -x -a 'no checksum signature' \
    -d 'How to verify the archive'
complete -c bredmachine -n '__bredmachine_verb_is create-template import' -l force -d 'Replace an existing template'
complete -c bredmachine -n '__bredmachine_verb_is create-template import clone convert start stop poweroff terminate remove' \
    -l no-block -d "Print the job's object path and return at once"
complete -c bredmachine -n '__bredmachine_verb_is clone' -l template -d 'Make the copy a read-only template'
complete -c bredmachine -n '__bredmachine_verb_is clone' -l settings -d 'Copy the binds and network settings too'
complete -c bredmachine -n '__bredmachine_verb_is convert' -l recipe -x -a '(__bredmachine_ids recipes)' -d 'The recipe'
complete -c bredmachine -n '__bredmachine_verb_is convert' -l with -x -d 'Extra packages to install'
complete -c bredmachine -n '__bredmachine_verb_is stop' -l force -d 'Kill the container'
complete -c bredmachine -n '__bredmachine_verb_is kill' -s s -l signal -x \
    -a 'SIGTERM SIGINT SIGHUP SIGKILL SIGQUIT SIGUSR1 SIGUSR2 SIGSTOP SIGCONT' -d 'The signal to send'
complete -c bredmachine -n '__bredmachine_verb_is kill' -l kill-whom -x -a 'leader all' -d 'Which processes'
complete -c bredmachine -n '__bredmachine_verb_is bind' -l read-only -d 'Bind read-only'
complete -c bredmachine -n '__bredmachine_verb_is bind' -l mkdir -d 'Create the source folder if missing'
complete -c bredmachine -n '__bredmachine_verb_is network create' -l host -d "Share the host's network"
complete -c bredmachine -n '__bredmachine_verb_is network create' -l veth -d 'A virtual Ethernet link to the host'
complete -c bredmachine -n '__bredmachine_verb_is network create' -l bridge -x -a '(__bredmachine_bridges)' \
    -d 'A virtual Ethernet link on a host bridge'
complete -c bredmachine -n '__bredmachine_verb_is network create' -l address -x -d 'The address of host0 inside (CIDR)'
complete -c bredmachine -n '__bredmachine_verb_is network create' -l gateway -x -d 'The default gateway inside'
complete -c bredmachine -n '__bredmachine_verb_is network create' -l dns -x -d 'A DNS server inside'
complete -c bredmachine -n '__bredmachine_verb_is network create' -l dhcp -d 'Configure host0 with DHCP'
complete -c bredmachine -n '__bredmachine_verb_is add-user' -l password-hash -x -d 'A crypt(3) hash, or - for stdin'
complete -c bredmachine -n '__bredmachine_verb_is add-user' -l groups -x -d 'Supplementary groups'
complete -c bredmachine -n '__bredmachine_verb_is add-user' -l shell -x -d 'The login shell'
complete -c bredmachine -n '__bredmachine_verb_is run' -l user -x -d 'The user of the command'
complete -c bredmachine -n '__bredmachine_verb_is run shell' -s E -l env -x -d 'An environment variable NAME=VALUE'
complete -c bredmachine -n '__bredmachine_verb_is run' -l cwd -x -d 'The working directory of the command'
complete -c bredmachine -n '__bredmachine_verb_is run' -l pty -d 'A pseudo-terminal even when not on a terminal'
complete -c bredmachine -n '__bredmachine_verb_is copy-to copy-from' -l replace \
    -d 'Replace the destination when it exists'
complete -c bredmachine -n '__bredmachine_verb_is copy-to copy-from' -l no-block \
    -d "Print the job's object path and return at once"

# Positional arguments
complete -c bredmachine -n 'not __bredmachine_argument 0 && __bredmachine_verb_is status' \
    -a '(__bredmachine_machines "template|container" ".*")'
complete -c bredmachine -n '__bredmachine_argument 0 status clone' -a '(__bredmachine_machines "template|container" ".*")'
complete -c bredmachine -n '__bredmachine_argument 0 remove rename' \
    -a '(__bredmachine_machines "template|container" "stopped|failed")'
complete -c bredmachine -n '__bredmachine_argument 0 start' -a '(__bredmachine_machines container "stopped|failed")'
complete -c bredmachine -n '__bredmachine_argument 0 stop poweroff terminate reboot kill login' \
    -a '(__bredmachine_machines container running)'
complete -c bredmachine -n '__bredmachine_argument 0 shell' -a '(__bredmachine_shell_target)'
complete -c bredmachine -n '__bredmachine_argument 0 run' -a '(__bredmachine_machines container "stopped|running")'
complete -c bredmachine -n '__bredmachine_argument 0 enable disable convert add-user bind unbind network' \
    -a '(__bredmachine_machines container ".*")'
complete -c bredmachine -n '__bredmachine_argument 0 cancel' -a '(__bredmachine_ids jobs)'
complete -c bredmachine -n '__bredmachine_argument 1 import bind' -F
complete -c bredmachine -n '__bredmachine_argument 0 copy-to' -a '(__bredmachine_machines container ".*")'
complete -c bredmachine -n '__bredmachine_argument 0 copy-from' -a '(__bredmachine_machines "template|container" ".*")'
complete -c bredmachine -n '__bredmachine_argument 1 copy-to' -F
complete -c bredmachine -n '__bredmachine_argument 2 copy-from' -F

# limit
complete -c bredmachine -n 'not __bredmachine_has_verb' -a limit -d "Set a container's resource limits"
complete -c bredmachine -n '__bredmachine_argument 0 limit' -a '(__bredmachine_machines container ".*")'
complete -c bredmachine -n '__bredmachine_verb_is limit' -l memory -x -a none -d 'Memory limit: 512M, 2G, bytes'
complete -c bredmachine -n '__bredmachine_verb_is limit' -l memory-high -x -a none -d 'Memory above which it is throttled'
complete -c bredmachine -n '__bredmachine_verb_is limit' -l cpu -x -a none -d 'CPU time in percent of one CPU'
complete -c bredmachine -n '__bredmachine_verb_is limit' -l cpu-weight -x -a none -d 'CPU share, 1 to 10000'
complete -c bredmachine -n '__bredmachine_verb_is limit' -l io-weight -x -a none -d 'I/O share, 1 to 10000'
complete -c bredmachine -n '__bredmachine_verb_is limit' -l tasks -x -a none -d 'Most processes and threads'

# logs
complete -c bredmachine -n 'not __bredmachine_has_verb' -a logs -d "Show a machine's log"
complete -c bredmachine -n '__bredmachine_argument 0 logs' -a '(__bredmachine_machines container ".*")'
complete -c bredmachine -n '__bredmachine_verb_is logs' -s f -l follow -d 'Keep showing new lines'
complete -c bredmachine -n '__bredmachine_verb_is logs' -s n -l lines -x -d 'The last N lines of each log'
complete -c bredmachine -n '__bredmachine_verb_is logs' -s S -l since -x -a 'today yesterday -1h' -d 'Lines from TIME on'

# export, and import --container
complete -c bredmachine -n 'not __bredmachine_has_verb' -a export -d 'Write a stopped machine to an archive'
complete -c bredmachine -n '__bredmachine_argument 0 export' \
    -a '(__bredmachine_machines "template|container" "stopped|failed")'
complete -c bredmachine -n '__bredmachine_argument 1 export' -F
complete -c bredmachine -n '__bredmachine_verb_is export' -l compression -x -a 'zst gz xz none' -d 'The compression'
complete -c bredmachine -n '__bredmachine_verb_is export' -l no-block -d "Print the job's object path and return at once"
complete -c bredmachine -n '__bredmachine_verb_is import' -l container -d 'Install it as a container, not a template'

# create
complete -c bredmachine -n 'not __bredmachine_has_verb' -a create -d 'Make a container from nothing in one step'
complete -c bredmachine -n '__bredmachine_verb_is create' -l distro -x -a '(__bredmachine_ids distros)' -d 'A distribution of distros'
complete -c bredmachine -n '__bredmachine_verb_is create' -l release -x -a '(__bredmachine_releases)' -d 'Its release, from distros'
complete -c bredmachine -n '__bredmachine_verb_is create' -l arch -x -d 'Its architecture'
complete -c bredmachine -n '__bredmachine_verb_is create' -l verify -x -a 'no checksum signature' -d 'How to verify the archive'
complete -c bredmachine -n '__bredmachine_verb_is create' -l convert -x -a '(__bredmachine_ids recipes)' -d 'Convert it with a recipe'
complete -c bredmachine -n '__bredmachine_verb_is create' -l with -x -d 'Extra packages of the conversion'
complete -c bredmachine -n '__bredmachine_verb_is create' -l start -d 'Start it, and wait until it is up'
